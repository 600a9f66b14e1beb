/*
 * memhog.c - use memory until the limit, or the OOM killer, stops us.
 *
 * Allocates memory 1 MiB at a time and writes to every page of it: memory
 * that is only allocated costs nothing, because the kernel hands out pages
 * on first touch.  Under a memory cgroup ("--memory 64m") the kernel reclaims
 * what it can and then the OOM killer sends SIGKILL: the shell reports
 * "Killed" and status 137 (128 + 9).  Progress goes to stderr every 64 MiB so
 * you can see how far it got.
 *
 * Usage: memhog [MIB]
 *   Stops at MIB mebibytes (default 4096) and exits 0; exits 1 if malloc
 *   fails first.
 *
 * See: cgroups(7), Documentation/admin-guide/cgroup-v2.rst ("memory.max"),
 *      proc(5) (/proc/PID/oom_score)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB		 (1024L * 1024L)
#define DEFAULT_MIB	 4096L
#define LIMIT_MIB	 (1024L * 1024L) /* 1 TiB: a typo, not a test */
#define REPORT_EVERY_MIB 64L

static long parse_mib(const char *s)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < 0 || n > LIMIT_MIB) {
		fprintf(stderr, "memhog: invalid size '%s' (0 to %ld MiB)\n", s,
			LIMIT_MIB);
		exit(1);
	}
	return n;
}

int main(int argc, char **argv)
{
	long limit = DEFAULT_MIB;
	long page = sysconf(_SC_PAGESIZE);
	long used;

	if (argc > 2) {
		fprintf(stderr, "usage: memhog [MIB]\n");
		return 1;
	}
	if (argc == 2)
		limit = parse_mib(argv[1]);
	if (page == -1) {
		perror("memhog: sysconf _SC_PAGESIZE");
		return 1;
	}

	for (used = 0; used < limit; used++) {
		/* Never freed: holding on to it is the point. */
		char *p = malloc(MIB);
		long off;

		if (p == NULL) {
			fprintf(stderr, "memhog: malloc after %ld MiB: %s\n",
				used, strerror(errno));
			return 1;
		}
		for (off = 0; off < MIB; off += page)
			p[off] = 1;
		if ((used + 1) % REPORT_EVERY_MIB == 0)
			fprintf(stderr, "memhog: %ld MiB\n", used + 1);
	}
	fprintf(stderr, "memhog: reached %ld MiB\n", limit);
	return 0;
}
