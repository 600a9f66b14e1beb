/*
 * slow_prctl.c - an LD_PRELOAD shim that widens a race window on purpose.
 *
 * It delays prctl(PR_SET_PDEATHSIG) by $CFS_PRCTL_DELAY_MS milliseconds, so
 * that a test can kill the tool while its child has not yet armed its death
 * signal: the window the handshake in die_with_parent() must close.  On
 * broken code the container then survives every time, not one time in ten.
 * It says so on stderr first, so that the test kills the tool only once the
 * window is open.  It removes itself from the environment, so the command
 * in the container does not load it.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static long delay_ms;

__attribute__((constructor)) static void init(void)
{
	const char *ms = getenv("CFS_PRCTL_DELAY_MS");

	delay_ms = ms ? atol(ms) : 0;
	unsetenv("LD_PRELOAD");
}

int prctl(int option, ...)
{
	/* POSIX's way to turn dlsym's void * into a function pointer. */
	int (*real)(int, unsigned long, unsigned long, unsigned long,
		    unsigned long);
	unsigned long a[4];
	va_list ap;

	va_start(ap, option);
	for (int i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	*(void **)&real = dlsym(RTLD_NEXT, "prctl");
	if (option == PR_SET_PDEATHSIG && delay_ms > 0) {
		struct timespec t = {delay_ms / 1000,
				     (delay_ms % 1000) * 1000000};
		static const char note[] = "slow_prctl: holding the child\n";

		/* The test waits for this line: the window is open. */
		if (write(2, note, sizeof(note) - 1) == -1)
			return -1;
		nanosleep(&t, NULL);
	}
	return real(option, a[0], a[1], a[2], a[3]);
}
