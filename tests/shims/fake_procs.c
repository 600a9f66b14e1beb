/*
 * fake_procs.c - an LD_PRELOAD shim that plays a reused PID on purpose.
 *
 * A v1 cgroup.procs lists PIDs; by the time the tool kills one, that
 * process may have exited and its PID gone to a host process.  Waiting for
 * the kernel to reuse a PID is luck; this shim makes it certain: every read
 * of a cgroup.procs file also lists $CFS_FAKE_PID, a host process outside
 * the cgroup, as a stale read would.  A tool that kills what it read kills
 * it every time.  It removes itself from the environment, so the command in
 * the container does not load it.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fake_pid;

__attribute__((constructor)) static void init(void)
{
	fake_pid = getenv("CFS_FAKE_PID");
	unsetenv("LD_PRELOAD");
}

static int ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), m = strlen(end);

	return n >= m && strcmp(s + n - m, end) == 0;
}

FILE *fopen(const char *path, const char *mode)
{
	/* POSIX's way to turn dlsym's void * into a function pointer. */
	FILE *(*real)(const char *, const char *);
	static char buf[65536];
	size_t len;
	FILE *f;

	*(void **)&real = dlsym(RTLD_NEXT, "fopen");
	f = real(path, mode);
	if (f == NULL || fake_pid == NULL || mode[0] != 'r' ||
	    !ends_with(path, "/cgroup.procs"))
		return f;
	len = (size_t)snprintf(buf, sizeof(buf), "%s\n", fake_pid);
	len += fread(buf + len, 1, sizeof(buf) - len - 1, f);
	fclose(f);
	return fmemopen(buf, len, "r");
}
