/*
 * proc.c - the parent's side of running a child: its clone stack, the
 * signals it forwards while it waits, and how a wait status becomes the
 * tool's exit status.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

/* What a user or a terminal sends to stop or poke a program. */
static const int forwarded[] = {SIGINT,	 SIGTERM, SIGHUP,
				SIGQUIT, SIGUSR1, SIGUSR2};

/*
 * The container must hold only fds 0, 1 and 2.  Whatever else is open here
 * came from the caller (a shell's `exec 7</`, bats' own fd 3) or from the
 * tool's own setup, and an fd on a host directory is a way out of any new
 * root: /proc/self/fd/N/.. climbs the host's tree (CVE-2024-21626 in runc).
 * O_CLOEXEC is not enough: --init's PID 1 never execs.
 */
void close_other_fds(void)
{
	if (close_range(3, ~0U, 0) == 0)
		return;
	if (errno != ENOSYS)
		die("close_range 3..");
	/* Before Linux 5.9: one close per possible descriptor. */
	for (long fd = sysconf(_SC_OPEN_MAX) - 1; fd >= 3; fd--)
		close((int)fd);
}

int fallback_forced(const char *feature)
{
	const char *list = getenv("CONTAINER_FORCE_FALLBACK");

	return list != NULL && has_word(list, feature);
}

/* mmap returns whole pages, so the top is aligned for every port's stack
 * pointer (arm64 faults on one that is not a multiple of 16). */
void *alloc_stack(size_t size)
{
	void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	if (stack == MAP_FAILED)
		die("mmap clone stack");
	return (char *)stack + size;
}

void forwarded_signals(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(set, forwarded[i]);
	sigaddset(set, SIGCHLD);
}

/*
 * Reset what the tool relies on and might have inherited: a caller that
 * ignores SIGCHLD (some daemons, CI runners and language wrappers do, and
 * execve keeps SIG_IGN) makes the kernel reap our child itself and send no
 * SIGCHLD at all, and supervise() would wait for it forever.  The child
 * inherits the reset too.
 */
static void reset_signal_dispositions(void)
{
	if (signal(SIGCHLD, SIG_DFL) == SIG_ERR)
		die("signal SIGCHLD");
}

/* The other signals whose default action ends a process.  The tool is not
 * theirs to end mid-setup or mid-cleanup: they stay blocked for its life.
 * SIGPIPE too, so that a closed stderr (`2>&1 | head -c1`) makes write(2)
 * fail with EPIPE instead of killing the tool; blocked rather than ignored,
 * because an ignored signal stays ignored across execve and the command
 * must get the default.  The faults (SIGSEGV, SIGBUS, ...) cannot be
 * blocked usefully, and SIGKILL not at all. */
static const int held[] = {SIGPIPE, SIGALRM, SIGVTALRM, SIGPROF,  SIGXCPU,
			   SIGXFSZ, SIGIO,   SIGPWR,	SIGSTKFLT};

void block_signals(sigset_t *old)
{
	sigset_t set;

	reset_signal_dispositions();
	/* Blocked rather than handled: a signal that arrives while we set up
	 * stays pending, and supervise() forwards it once the child exists.
	 * Each stage calls this on the first line of main(), before it makes
	 * anything it must undo.  SIGTTOU too: the relay sets the user's
	 * terminal back from raw mode even when the tool was moved to the
	 * background. */
	forwarded_signals(&set);
	sigaddset(&set, SIGTTOU);
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
		sigaddset(&set, held[i]);
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaddset(&set, sig);
	if (sigprocmask(SIG_BLOCK, &set, old) == -1)
		die("sigprocmask");
}

/*
 * Forward sig to the container.  A PID 1 ignores any signal it has no
 * handler for, so a second SIGINT or SIGTERM means the user really wants
 * it gone: send SIGKILL, which PID 1 cannot ignore.
 */
void forward_signal(pid_t child, int sig, int *stops)
{
	if ((sig == SIGINT || sig == SIGTERM) && ++*stops >= 2) {
		trace("second SIG%s: killing the container with SIGKILL",
		      sigabbrev_np(sig));
		sig = SIGKILL;
	} else {
		trace("forwarding SIG%s to the container", sigabbrev_np(sig));
	}
	if (kill(child, sig) == -1 && errno != ESRCH)
		die("kill %d", child);
}

/*
 * Wait for the child, forwarding every signal in the set to it, and return
 * its wait status.  The container has a session of its own (the child
 * calls setsid()), so it never shares the user's terminal: the tool stays
 * in the terminal's foreground, Ctrl-C reaches the tool, and the tool
 * forwards it.  An interactive run relays a terminal of its own instead
 * (relay_terminal() in pty.c).
 */
int supervise(pid_t child)
{
	int stops = 0, wstatus;
	siginfo_t info;
	sigset_t set;
	pid_t pid;
	int sig;

	if (terminal_master != -1)
		return relay_terminal(child);
	forwarded_signals(&set);
	for (;;) {
		pid = waitpid(child, &wstatus, WNOHANG);
		if (pid == child)
			return wstatus;
		if (pid == -1 && errno != EINTR)
			die("waitpid");
		sig = sigwaitinfo(&set, &info);
		if (sig == -1) {
			if (errno == EINTR)
				continue;
			die("sigwaitinfo");
		}
		if (sig != SIGCHLD)
			forward_signal(child, sig, &stops);
	}
}

int named_owner_alive(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, "ctr-", 4) != 0)
		return 0;
	pid = strtol(name + 4, &end, 10);
	return *end == '\0' && pid > 0 &&
	       (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

const char *command_line(char **argv)
{
	static char buf[512];
	size_t len = 0;

	buf[0] = '\0';
	for (; *argv && len < sizeof(buf) - 1; argv++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
					len ? " " : "", *argv);
	return buf;
}

int exit_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return EXIT_TOOL_FAILED;
}

void exec_command(char **argv)
{
	execvp(argv[0], argv);
	/* Only reached if execvp failed: 127 when there is nothing to run,
	 * 126 when it exists but cannot be run, as a shell would say. */
	if (errno == ENOENT || errno == ENOTDIR) {
		warn_msg("exec %s: %s", argv[0], strerror(errno));
		exit(EXIT_NOT_FOUND);
	}
	warn_msg("exec %s: %s", argv[0], strerror(errno));
	exit(EXIT_CANNOT_EXEC);
}
