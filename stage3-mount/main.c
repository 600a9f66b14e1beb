/*
 * stage3-mount - a new mount namespace, private propagation and a fresh /proc.
 *
 * What is new: CLONE_NEWNS gives the child its own copy of the host's mount
 * table.  A copy is not yet a wall: on a systemd host every mount is
 * "shared", so a mount made in the copy propagates back to the host.  The
 * child first makes every mount private (MS_REC | MS_PRIVATE), and only then
 * mounts a fresh proc on /proc.  That proc belongs to the new PID namespace,
 * so ps inside the container finally shows only the container's processes,
 * and the host's /proc is untouched.
 *
 * Still shared: the host's files.  Stage 4 gives the container a root
 * filesystem of its own.
 *
 * See: clone(2), mount_namespaces(7), mount(2), proc(5), pid_namespaces(7)
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define STAGE	    3
#define CLONE_FLAGS (CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS)
/* What the stage does, for --help's NAME line. */
#define STAGE_SUMMARY "run a command with its own mounts and /proc"

/* What the child needs from the parent: clone(2) passes one pointer. */
struct child_args {
	struct options *opts;
	int sync_fd[2];	  /* [0] the tool's end, [1] the child's */
	sigset_t sigmask; /* the mask to restore before exec */
	int tty_slave;	  /* an interactive run's terminal, or -1 */
};

/* ---- the child, inside the new namespaces ---- */

/*
 * The container must not outlive the tool, even if the tool is killed with
 * SIGKILL and can clean nothing up.  PR_SET_PDEATHSIG asks the kernel to
 * kill us when our parent dies, but only from the moment we ask: if the tool
 * died before that, no signal ever comes.  So the order is arm, acknowledge,
 * go.  We arm the signal, say so on a socket shared with the tool, and go on
 * only when the tool answers.  If the tool dies after we armed, the signal
 * kills us; if it died before, its end of the socket is closed, and our
 * send or receive fails: we exit 125 and say so.  The tool answers only
 * after our word, so an answer can never be waiting for a child that is not
 * yet armed.
 */
static void die_with_parent(struct child_args *args)
{
	ssize_t got = -1;
	char go;

	close(args->sync_fd[0]); /* the tool's end: only the tool holds it */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		die("prctl PR_SET_PDEATHSIG");
	if (send(args->sync_fd[1], "a", 1, MSG_NOSIGNAL) != 1 ||
	    (got = recv(args->sync_fd[1], &go, 1, 0)) != 1)
		diex("no go-ahead from the tool: %s",
		     got == 0 || errno == EPIPE ? "it is gone"
						: strerror(errno));
}

/*
 * A session of our own, before anything else: setsid(2) leaves the
 * caller's session, and with it the caller's controlling terminal.  A
 * process that shares a terminal can type into it: ioctl(TIOCSTI) pushes
 * bytes into its input, and the user's shell reads them as commands once
 * the container exits, on the host, outside every namespace.  TIOCSTI
 * works only on the caller's own controlling terminal (unless it has
 * CAP_SYS_ADMIN), and now the container has none of the user's.
 */
static void new_session(void)
{
	if (setsid() == -1)
		die("setsid");
	trace("setsid: a new session, without the caller's terminal");
}

/* An interactive run: the tool opened a pseudo-terminal on the host, and
 * its slave becomes our controlling terminal and our fds 0, 1 and 2. */
static void use_terminal(struct child_args *args)
{
	if (args->tty_slave == -1)
		return;
	attach_terminal(args->tty_slave);
	trace("the container's terminal is a new pseudo-terminal");
}

/* Only this namespace's copy of the hostname changes. */
static void set_hostname(const char *name)
{
	if (sethostname(name, strlen(name)) == -1)
		die("sethostname %s", name);
	trace("set hostname to '%s' in the new UTS namespace", name);
}

/*
 * The new mount namespace starts as a copy of the host's, with the same
 * propagation: where / is shared (every systemd host), our mounts would
 * appear on the host.  Making the whole tree private first cuts that link
 * in both directions.
 */
static void make_mounts_private(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		die("make / private (mount MS_REC | MS_PRIVATE)");
	trace("make every mount private, so nothing propagates to the host");
}

/* A proc mount shows the PID namespace of the process that mounts it: ours. */
static void mount_proc(void)
{
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) == -1)
		die("mount proc on /proc");
	trace("mount proc on /proc");
}

/*
 * --init: a minimal init as PID 1.  Most programs assume that SIGTERM kills
 * them and that someone else reaps the orphans they leave; as PID 1 neither
 * is true.  This init runs the command as PID 2, forwards signals to it
 * (PID 2 gets the normal default actions), reaps every zombie re-parented to
 * it, and exits with the command's status.  Its exit kills whatever else is
 * still running in the namespace.  It resets what it relies on first: a
 * SIGCHLD ignored by whoever started the tool would make the kernel reap
 * the command behind its back, and sigwaitinfo() would never wake.
 */
static noreturn void run_init(struct child_args *args)
{
	int wstatus;
	siginfo_t info;
	sigset_t set;
	pid_t cmd, pid;

	if (signal(SIGCHLD, SIG_DFL) == SIG_ERR)
		die("signal SIGCHLD");
	cmd = fork();
	if (cmd == -1)
		die_hint(
			errno == EAGAIN
				? "a process limit is reached: the pids limit (--pids-limit), or RLIMIT_NPROC"
				: NULL,
			"fork the command");
	if (cmd == 0) {
		if (sigprocmask(SIG_SETMASK, &args->sigmask, NULL) == -1)
			die("sigprocmask");
		exec_command(args->opts->command);
	}
	trace("init is PID 1; running [%s] as PID %d in the container",
	      command_line(args->opts->command), cmd);

	/* The signals are still blocked, as the parent left them. */
	forwarded_signals(&set);
	for (;;) {
		while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
			if (pid == cmd)
				exit(exit_status(wstatus));
			trace("init reaped orphan PID %d", pid);
		}
		if (sigwaitinfo(&set, &info) == -1)
			continue; /* EINTR */
		if (info.si_signo != SIGCHLD)
			kill(cmd, info.si_signo);
	}
}

static int child(void *arg)
{
	struct child_args *args = arg;

	die_with_parent(args);
	new_session();
	use_terminal(args);
	set_hostname(args->opts->hostname);
	make_mounts_private();
	mount_proc();
	close_other_fds();
	if (args->opts->init)
		run_init(args);
	if (sigprocmask(SIG_SETMASK, &args->sigmask, NULL) == -1)
		die("sigprocmask");
	exec_command(args->opts->command);
}

/* ---- the parent, on the host ---- */

/*
 * Without root, the child is in a user namespace of its own, and is nobody
 * there until the tool says who is who, once, in /proc/PID/uid_map and
 * gid_map: "0 UID 1" means uid 0 inside is UID outside, for 1 id.  An
 * unprivileged writer may map only its own ids, and must first write
 * "deny" to /proc/PID/setgroups, or root inside could drop a supplementary
 * group that the host uses to deny it something ("everyone but group X may
 * read").  Where the caller has subordinate ids, map_subordinate_ids()
 * (common/userns.c) maps the whole range through newuidmap(1) instead.
 */
static void map_user_to_root(const struct options *opts, pid_t pid)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char path[64];

	if (!opts->rootless)
		return;
	if (!opts->setgroups_allowed) {
		snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
		if (write_file(path, "deny") == -1)
			die("write deny to %s", path);
		trace("setgroups denied: root inside cannot drop the caller's supplementary groups");
	}
	if (map_subordinate_ids(pid, uid, gid, opts->setgroups_allowed))
		return;
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	if (write_file(path, "0 %u 1", uid) == -1)
		die("write '0 %u 1' to %s", uid, path);
	snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
	if (write_file(path, "0 %u 1", gid) == -1)
		die("write '0 %u 1' to %s", gid, path);
	trace("user namespace: root inside is uid %u and gid %u outside", uid,
	      gid);
}

/* The tool's half of die_with_parent(): wait until the child has armed its
 * death signal, then let it go on.  No word means the child died first;
 * supervise() then reports its status.  Without root, the child is in a
 * user namespace of its own, and is nobody there until the tool writes its
 * uid and gid maps (map_user_to_root()): that too must happen before the
 * go-ahead. */
static void let_child_go(struct child_args *args, pid_t pid)
{
	char armed;

	close(args->sync_fd[1]);
	if (recv(args->sync_fd[0], &armed, 1, 0) != 1)
		return;
	map_user_to_root(args->opts, pid);
	if (send(args->sync_fd[0], "g", 1, MSG_NOSIGNAL) == -1 &&
	    errno != EPIPE)
		die("send the go-ahead to the child");
}

static pid_t start_container(struct child_args *args)
{
	pid_t pid;
	int flags;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		       args->sync_fd) == -1)
		die("socketpair");
	if (args->opts->tty)
		open_host_pty(&terminal_master, &args->tty_slave);
	trace_clone(CLONE_FLAGS);
	flags = CLONE_FLAGS | user_namespace_flag(args->opts);
	pid = clone(child, alloc_stack(STACK_SIZE), flags | SIGCHLD, args);
	if (pid == -1)
		die_hint(clone_hint(args->opts->rootless), "clone");
	if (args->opts->init)
		trace("init runs as PID %d on the host, PID 1 in the container",
		      pid);
	else
		trace("running [%s] as PID %d on the host, PID 1 in the container",
		      command_line(args->opts->command), pid);
	if (args->tty_slave != -1)
		close(args->tty_slave); /* the child's now */
	let_child_go(args, pid);
	close(args->sync_fd[0]);
	return pid;
}

static void usage(void)
{
	print_usage(
		STAGE, STAGE_SUMMARY, CLONE_FLAGS,
		"Runs COMMAND with a hostname of its own, as PID 1, and with a /proc\n"
		"of its own, so ps lists only the container's processes. Mounts made\n"
		"inside never reach the host. The files are still the host's. Without\n"
		"root, it runs in a user namespace of its own, in which the caller is\n"
		"root.",
		"clone(2), mount_namespaces(7), mount(2), proc(5), pid_namespaces(7)");
}

int main(int argc, char **argv)
{
	struct options opts;
	struct child_args args = {.opts = &opts, .tty_slave = -1};
	pid_t pid;

	block_signals(&args.sigmask);
	parse_args(argc, argv, STAGE, usage, &opts);
	start_trace(STAGE, opts.verbose);
	pid = start_container(&args);
	return exit_status(supervise(pid));
}
