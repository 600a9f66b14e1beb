/*
 * pty.c - a terminal of the container's own, and the relay between it and
 * the user's terminal.
 *
 * The container never shares the caller's terminal: a process that holds
 * a terminal can push input into it (TIOCSTI), and the user's shell would
 * read it after the container exits.  So an interactive run gets a new
 * pseudo-terminal: the container's stdin, stdout and stderr are its slave,
 * and the tool copies bytes between the master and the user's terminal,
 * which it puts in raw mode so that every key (Ctrl-C, Ctrl-Z, Ctrl-\)
 * reaches the container's own line discipline.  Stages 1 to 3 open the
 * pseudo-terminal on the host; from stage 4 the child opens it in the
 * container's own devpts and passes the master back (send_fd()).
 *
 * A run whose stdin or stdout is not a terminal (a pipe, CI) gets none of
 * this: no pty, no relay, not one extra system call.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common.h"

int terminal_master = -1;

/* The user's terminal as it was before raw mode, restored at every exit. */
static struct termios saved_termios;
static int raw_mode;

int wants_terminal(const struct options *opts)
{
	return opts->tty || (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO));
}

/* Give the pty the size of the user's terminal, if stdin is one. */
static void copy_window_size(int master)
{
	struct winsize ws;

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

void open_host_pty(int *master, int *slave)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master == -1)
		die("open /dev/ptmx");
	if (unlockpt(*master) == -1)
		die("unlockpt");
	*slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave == -1)
		die("ioctl TIOCGPTPEER");
	copy_window_size(*master);
}

void attach_terminal(int slave)
{
	/* The user's size now, before the command can ask: fd 0 is still
	 * the caller's.  The relay keeps it up to date afterwards. */
	copy_window_size(slave);
	if (ioctl(slave, TIOCSCTTY, 0) == -1)
		die("ioctl TIOCSCTTY");
	for (int fd = 0; fd <= 2; fd++)
		if (dup2(slave, fd) == -1)
			die("dup2 the terminal to fd %d", fd);
	if (slave > 2)
		close(slave);
}

/* SCM_RIGHTS: the kernel installs a copy of the descriptor in the
 * receiving process, whatever namespace it runs in. */
void send_fd(int sock, int fd)
{
	char data = 't';
	struct iovec iov = {.iov_base = &data, .iov_len = 1};
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf)};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	memset(&control, 0, sizeof(control));
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != 1)
		die("send the terminal to the tool");
}

int receive_fd(int sock)
{
	char data;
	struct iovec iov = {.iov_base = &data, .iov_len = 1};
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf)};
	struct cmsghdr *cmsg;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1; /* the child died first: supervise() says why */
	cmsg = CMSG_FIRSTHDR(&msg);
	if (cmsg == NULL || cmsg->cmsg_type != SCM_RIGHTS)
		diex("no terminal from the child");
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return fd;
}

static void restore_terminal(void)
{
	if (raw_mode &&
	    tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios) == -1)
		warn_msg("tcsetattr: %s", strerror(errno));
	raw_mode = 0;
}

/* Raw mode: no echo, no line editing, no signals from the keyboard here;
 * the container's line discipline does all of that.  Only in the
 * terminal's foreground: a tool started with `&` must leave the user's
 * shell its terminal as it is. */
static void enter_raw_mode(void)
{
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) != getpgrp())
		return;
	if (tcgetattr(STDIN_FILENO, &saved_termios) == -1)
		die("tcgetattr");
	raw = saved_termios;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == -1)
		die("tcsetattr");
	raw_mode = 1;
}

#define CTRL_Z '\032'

static void write_all(int fd, const char *buf, size_t len)
{
	ssize_t put;

	while (len > 0) {
		put = write(fd, buf, len);
		if (put == -1 && errno == EINTR)
			continue;
		if (put == -1)
			return; /* the reader is gone: drop it, keep draining */
		buf += put;
		len -= (size_t)put;
	}
}

/* The container's output to the user; 0 at the end (EIO from a master
 * whose slave is closed), -1 when there is nothing more for now. */
static ssize_t relay_output(int master)
{
	char buf[4096];
	ssize_t got;

	got = read(master, buf, sizeof(buf));
	if (got <= 0)
		return got == -1 && errno == EAGAIN ? -1 : 0;
	write_all(STDOUT_FILENO, buf, (size_t)got);
	return got;
}

/*
 * Job control: do for the container what a shell does for a job.  Stop
 * all of its first process group, give the user's terminal back as it
 * was, and stop the tool, so the user's shell gets its prompt back; on
 * `fg` (SIGCONT) take raw mode again and let the container go on.
 * SIGSTOP, because a PID 1 ignores SIGTSTP, and SIGSTOP from outside its
 * namespace is the one stop it cannot ignore.
 */
static void stop_with_container(pid_t child, int master)
{
	int was_raw = raw_mode;

	if (kill(-child, SIGSTOP) == -1 && errno != ESRCH)
		die("kill -%d SIGSTOP", child);
	restore_terminal();
	trace("Ctrl-Z: the container and the tool stop");
	raise(SIGSTOP);
	/* Here after SIGCONT: fg or bg. */
	if (was_raw)
		enter_raw_mode();
	copy_window_size(master);
	if (kill(-child, SIGCONT) == -1 && errno != ESRCH)
		die("kill -%d SIGCONT", child);
}

/* SIGTSTP's bit in /proc/PID/status's signal masks. */
#define SIGTSTP_BIT (1ULL << (SIGTSTP - 1))

/*
 * Does Ctrl-Z need the tool?  The kernel discards a keyboard SIGTSTP sent
 * to an orphaned process group, one with no parent in its session outside
 * it, and the container's first process group is one: its session is new
 * and its parent is the tool.  A PID 1 ignores SIGTSTP too.  So when that
 * group has the container's terminal, and its first process neither
 * ignores nor catches SIGTSTP (a shell with job control does both), the
 * key would do nothing: the tool stops the container itself.
 */
static int suspend_is_ours(pid_t child, int master)
{
	unsigned long long ign = 0, cgt = 0;
	char path[64], line[128];
	FILE *f;

	if (tcgetpgrp(master) != child)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", child);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "SigIgn: %llx", &ign);
		sscanf(line, "SigCgt: %llx", &cgt);
	}
	fclose(f);
	return !((ign | cgt) & SIGTSTP_BIT);
}

/* The user's keys to the container; Ctrl-Z (the default VSUSP) stops it
 * where the container could not stop itself. */
static ssize_t relay_keys(pid_t child, int master)
{
	char buf[4096], *z;
	ssize_t got;

	got = read(STDIN_FILENO, buf, sizeof(buf));
	if (got <= 0)
		return got == -1 && errno == EAGAIN ? -1 : 0;
	z = raw_mode ? memchr(buf, CTRL_Z, (size_t)got) : NULL;
	if (z != NULL && suspend_is_ours(child, master)) {
		write_all(master, buf, (size_t)(z - buf));
		stop_with_container(child, master);
		write_all(master, z + 1, (size_t)(got - (z - buf) - 1));
		return got;
	}
	write_all(master, buf, (size_t)got);
	return got;
}

/*
 * What the container wrote just before it exited may still be on its way
 * from the slave to the master (the kernel moves it in a work queue): read
 * until EIO, which comes once every slave is closed and everything is
 * read.  In stage 1 nothing ends the container's background processes with
 * it, and one may keep the slave open: stop after DRAIN_MS without a byte.
 */
#define DRAIN_MS 500

static void drain_output(int master)
{
	struct pollfd pfd = {.fd = master, .events = POLLIN};

	while (poll(&pfd, 1, DRAIN_MS) > 0 && relay_output(master) != 0)
		;
}

int relay_terminal(pid_t child)
{
	int master = terminal_master, wstatus, stops = 0;
	struct signalfd_siginfo si;
	struct pollfd fds[3];
	sigset_t set;
	pid_t pid;

	forwarded_signals(&set);
	sigaddset(&set, SIGWINCH);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		die("sigprocmask");
	fds[0] = (struct pollfd){.fd = signalfd(-1, &set, SFD_CLOEXEC),
				 .events = POLLIN};
	if (fds[0].fd == -1)
		die("signalfd");
	fds[1] = (struct pollfd){.fd = master, .events = POLLIN};
	fds[2] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
	if (fcntl(master, F_SETFL, O_NONBLOCK) == -1)
		die("fcntl O_NONBLOCK on the terminal");
	copy_window_size(master);
	enter_raw_mode();
	if (atexit(restore_terminal) != 0)
		diex("atexit");

	for (;;) {
		pid = waitpid(child, &wstatus, WNOHANG | WUNTRACED);
		if (pid == child && WIFSTOPPED(wstatus)) {
			stop_with_container(child, master);
			continue;
		}
		if (pid == child) {
			drain_output(master);
			restore_terminal();
			close(fds[0].fd);
			return wstatus;
		}
		if (pid == -1 && errno != EINTR)
			die("waitpid");
		if (poll(fds, 3, -1) == -1) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR) &&
		    relay_output(master) == 0)
			fds[1].fd = -1; /* slave closed; wait for the exit */
		if (fds[2].revents & (POLLIN | POLLHUP | POLLERR) &&
		    relay_keys(child, master) == 0) {
			/* stdin ended (a pipe with -t): the terminal's EOF */
			fds[2].fd = -1;
			if (write(master, "\004", 1) == -1 && errno != EIO)
				die("write to the terminal");
		}
		if (!(fds[0].revents & POLLIN) ||
		    read(fds[0].fd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGWINCH)
			copy_window_size(master);
		else if (si.ssi_signo != SIGCHLD)
			forward_signal(child, (int)si.ssi_signo, &stops);
	}
}
