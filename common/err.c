/*
 * err.c - one-line messages on stderr, and the -v trace.
 *
 * die(), die_hint() and diex() print "container: <what failed>[: <errno's
 * reason>][ (hint: ...)]" and exit 125, docker run's status for a failure of
 * the tool itself, so that it cannot be mistaken for the command's own
 * status.  warn_msg() prints the same kind of line and carries on.  trace()
 * prints "<stage>: <step>", only with -v.  Each is a single line, so that it
 * can be grepped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

const char *trace_prefix = "container";
int verbose;

static void vmessage(int errnum, const char *hint, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
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

void die(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	vmessage(errnum, NULL, fmt, ap);
	va_end(ap);
	exit(EXIT_TOOL_FAILED);
}

void die_hint(const char *hint, const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	vmessage(errnum, hint, fmt, ap);
	va_end(ap);
	exit(EXIT_TOOL_FAILED);
}

void diex(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(0, NULL, fmt, ap);
	va_end(ap);
	exit(EXIT_TOOL_FAILED);
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
	char msg[1024];
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", trace_prefix, msg);
}
