/*
 * sigign.c - run a command with SIGCHLD ignored, as some callers leave it.
 *
 * A disposition of SIG_IGN survives execve(2) (SIG_DFL and SIG_IGN are the
 * two that do), and an ignored SIGCHLD changes what wait means: the kernel
 * reaps children itself and sends no SIGCHLD at all.  Daemons, CI runners
 * and language wrappers sometimes start programs this way; a program that
 * waits for SIGCHLD must reset it first.  bash cannot set this up for a
 * command it runs, so the tests use this.
 *
 * Usage: sigign COMMAND [ARG...]
 *
 * See: signal(7) ("Signal mask and pending signals", execve), sigaction(2)
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sigign COMMAND [ARG...]\n");
		return 2;
	}
	if (signal(SIGCHLD, SIG_IGN) == SIG_ERR) {
		perror("sigign: signal SIGCHLD");
		return 2;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "sigign: exec %s: %s\n", argv[1], strerror(errno));
	return 127;
}
