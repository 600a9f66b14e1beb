/*
 * slow_mkdir.c - an LD_PRELOAD shim that widens a race window on purpose.
 *
 * It delays mkdir(2) of any path that ends in $CFS_MKDIR_SLOW_SUFFIX by
 * $CFS_MKDIR_DELAY_MS milliseconds: "/work" holds the tool in the middle of
 * making a --layer directory, after stage 5 made its cgroup, which is where
 * a signal must not end the tool.  It says so on stderr first, so that a
 * test signals the tool only once the window is open.  It removes itself
 * from the environment, so the command in the container does not load it.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long delay_ms;
static const char *suffix;

__attribute__((constructor)) static void init(void)
{
	const char *ms = getenv("CFS_MKDIR_DELAY_MS");

	delay_ms = ms ? atol(ms) : 0;
	suffix = getenv("CFS_MKDIR_SLOW_SUFFIX");
	unsetenv("LD_PRELOAD");
}

static int ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), m = strlen(end);

	return n >= m && strcmp(s + n - m, end) == 0;
}

int mkdir(const char *path, mode_t mode)
{
	/* POSIX's way to turn dlsym's void * into a function pointer. */
	int (*real)(const char *, mode_t);

	*(void **)&real = dlsym(RTLD_NEXT, "mkdir");
	if (delay_ms > 0 && suffix != NULL && ends_with(path, suffix)) {
		struct timespec t = {delay_ms / 1000,
				     (delay_ms % 1000) * 1000000};
		static const char note[] = "slow_mkdir: holding the tool\n";

		/* The test waits for this line: the window is open. */
		if (write(2, note, sizeof(note) - 1) == -1)
			return -1;
		nanosleep(&t, NULL);
	}
	return real(path, mode);
}
