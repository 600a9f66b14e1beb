/*
 * stage4-rootfs - a root filesystem of its own: an overlay, pivot_root and a
 * minimal /dev.
 *
 * What is new: the container stops seeing the host's files.  The image
 * (--rootfs, or the default built by `make rootfs`) becomes the read-only
 * lower layer of an overlay mount; the container's writes land in an upper
 * layer, so the image is never modified.  By default the upper layer is a
 * directory on disk that the tool makes for the run and removes at its end,
 * like `docker run --rm` (--tmpfs-layer puts it in memory); --layer DIR
 * keeps it.  Then pivot_root(2) makes the overlay the root and the old root
 * is detached: unlike chroot(2), there is no path back to the host's files.
 * The container gets a fresh /proc, a /dev with only the harmless devices
 * and a /dev/shm, a read-only /sys, and --volume (-v) bind-mounts host
 * directories in.
 *
 * See: pivot_root(2), mount(2), mount_namespaces(7), overlayfs
 *      (Documentation/filesystems/overlayfs.rst), mknod(2), devpts, sysfs(5)
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "extras.h"

#define STAGE	    4
#define CLONE_FLAGS (CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS)
/* What the stage does, for --help's NAME line. */
#define STAGE_SUMMARY "run a command in a root filesystem of its own"

/* The scratch tmpfs holds the mount point, and the layer with
 * --tmpfs-layer: memory, so it is capped. */
#define SCRATCH_OPTIONS "mode=0755,size=1g"

/* What the child needs from the parent: clone(2) passes one pointer. */
struct child_args {
	struct options *opts;
	int image_fd;		    /* the image, opened before covering it */
	int layer_fd;		    /* --layer DIR, the disk layer, or -1 */
	int volume_fd[MAX_VOLUMES]; /* each --volume's host directory */
	int sync_fd[2];		    /* [0] the tool's end, [1] the child's */
	struct layer layer; /* --layer DIR, made and locked by the tool */
	struct scratch_layer scratch; /* or the default one, on disk */
	sigset_t sigmask;	      /* the mask to restore before exec */
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

/*
 * Open the image and the layer while their paths still mean what the user
 * meant: mount_root() covers the image's path with a scratch tmpfs.  They
 * are opened here, in the new mount namespace, because overlayfs accepts
 * only paths in the caller's own namespace.
 */
static void open_host_dirs(struct child_args *args)
{
	const struct options *opts = args->opts;
	const char *layer = opts->layer ? opts->layer : args->scratch.dir;

	args->image_fd = open(opts->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (args->image_fd == -1)
		die("open image %s", opts->rootfs);
	args->layer_fd = -1;
	if (layer[0] != '\0') {
		args->layer_fd = open(layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (args->layer_fd == -1)
			die("open the writable layer %s", layer);
	}
}

/*
 * Build the container's root: an overlay whose lower layer is the image and
 * whose upper layer takes every write.  The upper layer is a directory on
 * disk that the tool made for this run (common/layer.c), or --layer DIR;
 * with --tmpfs-layer it is in the scratch tmpfs that holds the mount point.
 * That tmpfs is mounted over the image's own path, in our private namespace
 * only, and the kernel frees it when the namespace dies.  The image and
 * the layer stay reachable through the file descriptors opened before.
 * Ends with the working directory at the new root: from here on, relative
 * paths such as "dev" are inside it.
 */
static void mount_root(struct child_args *args)
{
	const struct options *opts = args->opts;
	char data[256], lower[32], layer[32];

	if (mount("tmpfs", opts->rootfs, "tmpfs", MS_NOSUID | MS_NODEV,
		  SCRATCH_OPTIONS) == -1)
		die("mount scratch tmpfs on %s", opts->rootfs);
	if (chdir(opts->rootfs) == -1)
		die("chdir %s", opts->rootfs);

	fd_path(args->image_fd, lower, sizeof(lower));
	if (args->layer_fd != -1) {
		fd_path(args->layer_fd, layer, sizeof(layer));
		if (opts->layer)
			trace("writable layer kept in %s/upper", opts->layer);
	} else {
		if (mkdir("layer", 0755) == -1 ||
		    mkdir("layer/upper", 0755) == -1 ||
		    mkdir("layer/work", 0755) == -1)
			die("mkdir the layer in the scratch tmpfs");
		snprintf(layer, sizeof(layer), "%s", "layer");
		trace("writable layer on a tmpfs, discarded at exit");
	}
	/* In a user namespace overlayfs may not use its trusted.* xattrs,
	 * only user.* ones: userxattr.  The default layer, removed at exit,
	 * may be "volatile": no sync of the host's disk when it unmounts. */
	snprintf(data, sizeof(data),
		 "lowerdir=%s,upperdir=%s/upper,workdir=%s/work%s%s", lower,
		 layer, layer, opts->rootless ? ",userxattr" : "",
		 args->scratch.options);
	if (mkdir("root", 0755) == -1)
		die("mkdir the mount point in the scratch tmpfs");
	if (mount("overlay", "root", "overlay", 0, data) == -1)
		die_hint(
			opts->rootless
				? "without root, overlayfs needs Linux 5.11 or later, where a user namespace may mount it"
				: "overlayfs needs a kernel with overlay, and an upper layer on a filesystem such as ext4, xfs or tmpfs",
			"mount overlay with image %s", opts->rootfs);
	if (chdir("root") == -1)
		die("chdir into the overlay");
	close(args->image_fd);
	if (args->layer_fd != -1)
		close(args->layer_fd);
	trace("mount overlay: image %s read-only below, writes above",
	      opts->rootfs);
}

/*
 * A /dev with only what programs expect and nothing that reaches the host's
 * disks: a tmpfs with six harmless character devices, the usual links into
 * /proc/self/fd, and a devpts of our own so shells can open terminals.
 * Once the tmpfs is mounted, everything is made relative to it, so nothing
 * the image holds can redirect it.  Without root, mknod(2) is refused, even
 * to root of a user namespace, and the host's own nodes are bound in
 * instead (bind_host_device() in common/userns.c).
 */
static void mount_dev(int rootless)
{
	static const struct {
		const char *name;
		unsigned int major, minor;
	} devices[] = {
		{"null", 1, 3},	  {"zero", 1, 5},    {"full", 1, 7},
		{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
	};
	static const char *const links[][2] = {
		{"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"},
	};
	char path[32];
	int dev, pts;

	dev = open_in_root("/dev");
	if (mount("tmpfs", fd_path(dev, path, sizeof(path)), "tmpfs",
		  MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") == -1)
		die("mount tmpfs on /dev");
	close(dev);
	dev = open_in_root("/dev"); /* the new tmpfs, not the image's dir */
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		if (rootless) {
			bind_host_device(dev, devices[i].name);
			continue;
		}
		if (mknodat(dev, devices[i].name, S_IFCHR | 0666,
			    makedev(devices[i].major, devices[i].minor)) == -1)
			die("mknod /dev/%s", devices[i].name);
		/* mknod applies the umask; the devices are for everyone. */
		if (fchmodat(dev, devices[i].name, 0666, 0) == -1)
			die("chmod /dev/%s", devices[i].name);
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlinkat(links[i][0], dev, links[i][1]) == -1)
			die("symlink /dev/%s", links[i][1]);
	if (mkdirat(dev, "pts", 0755) == -1)
		die("mkdir /dev/pts");
	pts = openat(dev, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pts == -1)
		die("open /dev/pts");
	/* newinstance: the container's own ptys, not the host's. */
	if (mount("devpts", fd_path(pts, path, sizeof(path)), "devpts",
		  MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620") == -1)
		die("mount devpts on /dev/pts");
	close(pts);
	close(dev);
	trace("mount a minimal /dev: null zero full random urandom tty%s, and devpts",
	      rootless ? " (the host's, bound in)" : "");
}

/*
 * pivot_root(2) moves the whole mount tree: the new root (our working
 * directory) becomes "/" and the old root is stacked under it, where we
 * unmount it.  With chroot(2) the host's tree would still be mounted, a
 * chdir("..") away for a process that chroots again (tests/progs/escape.c
 * shows how).  pivot_root(".", ".") saves making a directory for the old
 * root: it ends up on top of the new one, and umount2(".") removes it.
 */
static void enter_new_root(void)
{
	if (syscall(SYS_pivot_root, ".", ".") == -1)
		die_hint(
			"the new root must be a mount point whose parent is not shared",
			"pivot_root");
	if (umount2(".", MNT_DETACH) == -1)
		die("detach the old root");
	if (chdir("/") == -1)
		die("chdir /");
	trace("pivot_root into the overlay; the old root is detached");
}

/* A proc mount shows the PID namespace of the process that mounts it: ours.
 * It is mounted before pivot_root, through the host's /proc/self/fd, on a
 * mount point that open_in_root() checked. */
static void mount_proc(void)
{
	char path[32];
	int dir = open_in_root("/proc");

	if (mount("proc", fd_path(dir, path, sizeof(path)), "proc",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == -1)
		die("mount proc on /proc");
	close(dir);
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

/* The container's steps, in order.  The lesson's are in this file; those
 * declared in extras.h (the volumes, /dev/shm, /sys, /tmp, PATH, the
 * terminal and the word "started") make it usable, and live in extras.c. */
static int child(void *arg)
{
	struct child_args *args = arg;

	die_with_parent(args);
	new_session();
	set_hostname(args->opts->hostname);
	make_mounts_private();
	open_host_dirs(args);
	open_volumes(args->opts, args->volume_fd);
	mount_root(args);
	mount_proc();
	mount_dev(args->opts->rootless);
	mount_shm();
	mount_sys(args->opts->rootless);
	make_tmp(args->opts->rootless);
	mount_volumes(args->opts, args->volume_fd);
	enter_new_root();
	lock_mounts(args->opts, args->sync_fd[1]);
	set_path();
	open_terminal(args->opts->tty, args->sync_fd[1]);
	report_started(args->sync_fd[1]);
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
	let_child_go(args, pid);
	map_inner_namespace(args->opts, pid, args->sync_fd[0]);
	if (args->opts->tty)
		terminal_master = receive_fd(args->sync_fd[0]);
	return pid;
}

static void usage(void)
{
	print_usage(
		STAGE, STAGE_SUMMARY, CLONE_FLAGS,
		"Runs COMMAND with an image as its root filesystem. The image is the\n"
		"read-only lower layer of an overlay: writes go to an upper layer, and\n"
		"the image is never modified. The container gets a fresh /proc, a\n"
		"minimal /dev with a /dev/shm, a read-only /sys and a writable /tmp.\n"
		"Without root, it runs in a user namespace of its own, in which the\n"
		"caller is root, and /dev holds bind mounts of the host's devices.",
		"pivot_root(2), mount(2), mount_namespaces(7), mknod(2), overlayfs");
}

int main(int argc, char **argv)
{
	struct options opts;
	struct child_args args = {.opts = &opts};
	int wstatus;
	pid_t pid;

	block_signals(&args.sigmask);
	parse_args(argc, argv, STAGE, usage, &opts);
	start_trace(STAGE, opts.verbose);
	make_layer(&args.layer, opts.layer);
	make_scratch_layer(&args.scratch, &opts);
	pid = start_container(&args);
	keep_layer_owner(&args.scratch, pid);
	wstatus = supervise(pid);
	remove_scratch_layer(&args.scratch);
	finish_layer(&args.layer, command_started(args.sync_fd[0]));
	return exit_status(wstatus);
}
