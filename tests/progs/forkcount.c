/*
 * forkcount.c - count the processes a pids cgroup lets us create.
 *
 * Forks children until fork(2) fails with EAGAIN, which is what the kernel
 * returns once pids.max of our cgroup (or RLIMIT_NPROC) is reached.  Every
 * child stays alive until counting stops, because a pids limit counts live
 * tasks, not forks.  Then the children are killed and reaped, and the count
 * is printed on stdout, alone.
 *
 * Run as a container's PID 1 under "--pids-limit 20" it prints 19: PID 1
 * itself is the twentieth task.  A fork bomb meets the same wall.
 *
 * Usage: forkcount [MAX]
 *   Stops at MAX children (default 10000), so an unlimited machine prints
 *   MAX.  Exits 1 if fork fails for any reason other than EAGAIN.
 *
 * See: fork(2), cgroups(7), Documentation/admin-guide/cgroup-v2.rst ("PID")
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_MAX 10000L
#define LIMIT_MAX   1000000L

static pid_t *children;
static long nchildren;

/*
 * A child blocks reading the pipe.  It holds only the read end, so when the
 * parent goes away, however it dies, read() returns 0 and the child exits:
 * no child outlives the count.
 */
static void child(int pipe_read)
{
	char c;

	while (read(pipe_read, &c, 1) == -1 && errno == EINTR)
		;
	_exit(0);
}

/* Kill and reap every child; return -1 if one could not be. */
static int stop_children(void)
{
	int ret = 0;
	long i;

	for (i = 0; i < nchildren; i++) {
		if (kill(children[i], SIGKILL) == -1) {
			fprintf(stderr, "forkcount: kill %ld: %s\n",
				(long)children[i], strerror(errno));
			ret = -1;
		}
	}
	for (i = 0; i < nchildren; i++) {
		while (waitpid(children[i], NULL, 0) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "forkcount: waitpid %ld: %s\n",
				(long)children[i], strerror(errno));
			ret = -1;
			break;
		}
	}
	nchildren = 0;
	return ret;
}

static long parse_max(const char *s)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < 0 || n > LIMIT_MAX) {
		fprintf(stderr, "forkcount: invalid MAX '%s' (0 to %ld)\n", s,
			LIMIT_MAX);
		exit(1);
	}
	return n;
}

int main(int argc, char **argv)
{
	long max = DEFAULT_MAX;
	int fds[2];
	int fork_errno = 0;
	long count;

	if (argc > 2) {
		fprintf(stderr, "usage: forkcount [MAX]\n");
		return 1;
	}
	if (argc == 2)
		max = parse_max(argv[1]);

	children = calloc((size_t)max + 1, sizeof(*children));
	if (children == NULL) {
		perror("forkcount: calloc");
		return 1;
	}
	if (pipe(fds) == -1) {
		perror("forkcount: pipe");
		return 1;
	}

	while (nchildren < max) {
		pid_t pid = fork();

		if (pid == -1) {
			fork_errno = errno;
			break;
		}
		if (pid == 0) {
			close(fds[1]);
			child(fds[0]);
		}
		children[nchildren++] = pid;
	}

	/* The count is in; let the children go. */
	count = nchildren;

	if (close(fds[1]) == -1)
		perror("forkcount: close");
	if (stop_children() == -1)
		return 1;
	if (fork_errno != 0 && fork_errno != EAGAIN) {
		fprintf(stderr, "forkcount: fork after %ld children: %s\n",
			count, strerror(fork_errno));
		return 1;
	}
	printf("%ld\n", count);
	return 0;
}
