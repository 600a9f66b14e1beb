/*
 * err.c - one-line messages on stderr, and the --verbose trace.
 *
 * die(), die_hint() and diex() print "container: <what failed>[: <errno's
 * reason>][ (hint: ...)]" and exit 125, docker run's status for a failure of
 * the tool itself, so that it cannot be mistaken for the command's own
 * status.  warn_msg() prints the same kind of line and carries on.  trace()
 * prints "<stage>: <step>", only with --verbose.  Each is a single line, so
 * that it can be grepped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* Set once, by main() through start_trace(), before the clone. */
static char trace_prefix[16] = "container";
static int tracing;

/*
 * Values from the command line reach messages as they were typed, and a
 * newline or escape sequence in one would break the one-line contract or
 * drive the terminal: show every control character as \n, \t or \xNN.
 */
static void escape_controls(const char *in, char *out, size_t size)
{
	size_t used = 0;

	for (; *in && used + 5 < size; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == '\n')
			used += (size_t)snprintf(out + used, size - used,
						 "\\n");
		else if (c == '\t')
			used += (size_t)snprintf(out + used, size - used,
						 "\\t");
		else if (c < 0x20 || c == 0x7f)
			used += (size_t)snprintf(out + used, size - used,
						 "\\x%02x", c);
		else
			out[used++] = (char)c;
	}
	out[used] = '\0';
}

static void vmessage(int errnum, const char *hint, const char *fmt, va_list ap)
{
	char raw[1024], msg[4096];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	escape_controls(raw, msg, sizeof(msg));
	/* Build the line first and write it once, so lines from the parent
	 * and the child never interleave. */
	if (errnum && hint)
		fprintf(stderr, "container: %s: %s (hint: %s)\n", msg,
			strerror(errnum), hint);
	else if (errnum)
		fprintf(stderr, "container: %s: %s\n", msg, strerror(errnum));
	else
		fprintf(stderr, "container: %s\n", msg);
}

/*
 * The cleanups die() runs, newest first, as each was registered to undo
 * something made after the one before it; each with the process that
 * registered it: a clone child inherits the list with the rest of memory,
 * but the cleanups are not its to run.
 */
#define MAX_CLEANUPS 4
static struct {
	void (*run)(void);
	pid_t owner;
} cleanups[MAX_CLEANUPS];
static int ncleanups;

void at_die(void (*cleanup)(void))
{
	for (int i = 0; i < ncleanups; i++)
		if (cleanups[i].run == cleanup && cleanups[i].owner == getpid())
			return; /* registered already */
	if (ncleanups == MAX_CLEANUPS) {
		/* A programming error, found by the first run that hits it. */
		fprintf(stderr, "container: at_die: more than %d cleanups\n",
			MAX_CLEANUPS);
		abort();
	}
	cleanups[ncleanups].run = cleanup;
	cleanups[ncleanups].owner = getpid();
	ncleanups++;
}

static noreturn void die_exit(void)
{
	/* Each is taken off the list before it runs: a die() inside one goes
	 * on with the rest, and never runs it twice. */
	while (ncleanups > 0) {
		ncleanups--;
		if (cleanups[ncleanups].owner == getpid())
			cleanups[ncleanups].run();
	}
	exit(EXIT_TOOL_FAILED);
}

void die(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	vmessage(errnum, NULL, fmt, ap);
	va_end(ap);
	die_exit();
}

void die_hint(const char *hint, const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	vmessage(errnum, hint, fmt, ap);
	va_end(ap);
	die_exit();
}

void diex(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(0, NULL, fmt, ap);
	va_end(ap);
	die_exit();
}

void warn_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(0, NULL, fmt, ap);
	va_end(ap);
}

void trace(const char *fmt, ...)
{
	char raw[1024], msg[4096];
	va_list ap;

	if (!tracing)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	escape_controls(raw, msg, sizeof(msg));
	fprintf(stderr, "%s: %s\n", trace_prefix, msg);
}

void start_trace(int stage, int on)
{
	snprintf(trace_prefix, sizeof(trace_prefix), "stage%d", stage);
	tracing = on;
}
