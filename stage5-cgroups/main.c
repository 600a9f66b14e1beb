/*
 * stage5-cgroups - a control group of its own: at most 20 processes, 500 MB
 * of memory and 2 CPUs' worth of time, by default.
 *
 * What is new: namespaces change what a container can see, not how much it
 * can use; in stage 4 a fork bomb still takes the whole machine.  A control
 * group (cgroup) is a set of processes that the kernel accounts for and
 * limits as one.  The tool makes a cgroup for each container (mkdir),
 * writes the limits into its files, puts the container's first process in
 * it before that process runs anything, and removes it when the container
 * ends (rmdir).  Every process the command forks is born in the same
 * cgroup, so a fork bomb stops at pids.max: fork(2) fails with EAGAIN.
 *
 * Linux has two interfaces to cgroups.  v1 mounts each controller as a
 * hierarchy of its own (/sys/fs/cgroup/pids, /sys/fs/cgroup/memory, ...); v2
 * has one unified hierarchy for all of them, with other file names; the
 * table in write_limits() shows the two side by side.  On v2, clone3(2)
 * starts the child inside its cgroup; on v1 the child joins it first thing.
 * Then the child unshares a cgroup namespace, whose root is that cgroup:
 * inside, /proc/self/cgroup shows "/", and /sys/fs/cgroup the container's
 * own cgroup, read-only, with its limits.
 * The machinery around the lesson (finding each controller's hierarchy with
 * statfs(2), locking against concurrent runs, removing the cgroups of tools
 * killed with SIGKILL) is in cgroup_life.c.
 *
 * See: cgroups(7), cgroup_namespaces(7), clone3(2) (CLONE_INTO_CGROUP),
 *      the kernel's Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/
 *      (pids.rst, memory.rst), Documentation/scheduler/sched-bwc.rst (CPU
 *      quotas)
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "common.h"

#define STAGE	    5
#define CLONE_FLAGS (CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS)

#define DEFAULT_PATH                                                           \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* The scratch tmpfs holds the mount point, and the layer with
 * --tmpfs-layer: memory, so it is capped. */
#define SCRATCH_OPTIONS "mode=0755,size=1g"
/* /dev/shm is memory too: docker's size. */
#define SHM_OPTIONS "mode=1777,size=64m"
/* The uid that a file of an unmapped owner shows in a user namespace
 * (/proc/sys/kernel/overflowuid). */
#define OVERFLOW_UID 65534

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
	struct cgroup *cg;	      /* the container's cgroup */
	int in_cgroup; /* clone3(2) started the child inside it */
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
 * Open every host directory we need, while their paths still mean what the
 * user meant: mount_root() covers the image's path with a scratch tmpfs.
 * They are opened here, in the new mount namespace, because overlayfs and
 * bind mounts accept only paths in the caller's own namespace.
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
	for (int i = 0; i < opts->nvolumes; i++) {
		args->volume_fd[i] = open(opts->volumes[i].host,
					  O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (args->volume_fd[i] == -1)
			die("open --volume %s", opts->volumes[i].host);
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
		 layer, layer, rootless() ? ",userxattr" : "",
		 args->scratch.options);
	if (mkdir("root", 0755) == -1)
		die("mkdir the mount point in the scratch tmpfs");
	if (mount("overlay", "root", "overlay", 0, data) == -1)
		die_hint(
			rootless()
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
 * --volume HOST:CONTAINER[:ro]: bind-mount a host directory into the root,
 * with everything mounted below it.  The image controls the path of the
 * mount point, so open_in_root() (common/root.c) opens it without following
 * a symlink out of the new root; it is opened again after the bind, to get
 * the new mount and not the directory under it.  :ro must hold for every
 * mount below the volume too (a USB stick under /media, say), and a
 * read-only remount changes one mount only: make_read_only() (common/mount.c)
 * uses mount_setattr(2) with AT_RECURSIVE.  Without root, root in the
 * container could remount it read-write: lock_mounts() makes it stay.
 */
static void mount_volumes(struct child_args *args)
{
	const struct options *opts = args->opts;
	char source[32], target[32];
	int dir;

	for (int i = 0; i < opts->nvolumes; i++) {
		const struct volume *v = &opts->volumes[i];

		dir = open_in_root(v->container);
		fd_path(args->volume_fd[i], source, sizeof(source));
		fd_path(dir, target, sizeof(target));
		if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) == -1)
			die("bind-mount %s on %s", v->host, v->container);
		close(dir);
		close(args->volume_fd[i]);
		if (v->read_only) {
			dir = open_in_root(v->container);
			make_read_only(dir);
			close(dir);
		}
		trace("bind-mount %s on %s%s", v->host, v->container,
		      v->read_only ? " (read-only, with every mount below it)"
				   : "");
	}
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
static void mount_dev(void)
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
		if (rootless()) {
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
	      rootless() ? " (the host's, bound in)" : "");
}

/*
 * /dev/shm: POSIX shared memory and semaphores (shm_open(3), sem_open(3),
 * Python's multiprocessing), in a capped tmpfs of the container's own.
 * No /dev/mqueue: it would show the host's POSIX message queues, for the
 * container shares the host's IPC namespace (see docs/04-rootfs.md).
 */
static void mount_shm(void)
{
	char path[32];
	int dev = open_in_root("/dev"), shm;

	if (mkdirat(dev, "shm", 0755) == -1)
		die("mkdir /dev/shm");
	shm = openat(dev, "shm", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (shm == -1 ||
	    mount("tmpfs", fd_path(shm, path, sizeof(path)), "tmpfs",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, SHM_OPTIONS) == -1)
		die("mount tmpfs on /dev/shm");
	close(shm);
	close(dev);
	trace("mount a tmpfs on /dev/shm for POSIX shared memory");
}

/*
 * A read-only /sys, where programs read the machine's shape (the CPUs in
 * /sys/devices/system/cpu).  Mounting sysfs takes CAP_SYS_ADMIN over the
 * network namespace's owner, the host's: root has it.  Without root, the
 * host's /sys is bound in, read-only with every mount below it, as
 * bubblewrap does (bind_read_only() in common/mount.c).
 */
static void mount_sys(void)
{
	char path[32];
	int dir;

	if (rootless()) {
		bind_read_only("/sys", "/sys");
		trace("bind the host's /sys on /sys, read-only: sysfs needs root");
		return;
	}
	dir = open_in_root("/sys");
	if (mount("sysfs", fd_path(dir, path, sizeof(path)), "sysfs",
		  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == -1)
		die("mount sysfs on /sys");
	close(dir);
	trace("mount sysfs on /sys, read-only");
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

/* /tmp must be writable by anyone, even if the image forgot it.  Only a
 * wrong mode is changed: on an overlay even a chmod that changes nothing
 * copies /tmp up, and the upper layer must hold only the container's own
 * changes.  It runs before the volumes, so a volume on /tmp keeps the
 * host directory's own mode.  Without root, an image that belongs to the
 * host's root belongs to no one in our user namespace, and overlayfs
 * cannot copy such a directory up (EOVERFLOW): /tmp gets a tmpfs. */
static void make_tmp(void)
{
	char path[32];
	struct stat st;
	int dir = open_in_root("/tmp");

	if (fstat(dir, &st) == -1)
		die("stat /tmp");
	if (rootless() && st.st_uid == OVERFLOW_UID) {
		if (mount("tmpfs", fd_path(dir, path, sizeof(path)), "tmpfs",
			  MS_NOSUID | MS_NODEV, "mode=1777,size=64m") == -1)
			die("mount tmpfs on /tmp");
		trace("mount a tmpfs on /tmp: the image's belongs to no one here");
	} else if ((st.st_mode & 07777) != 01777 &&
		   chmod(fd_path(dir, path, sizeof(path)), 01777) == -1) {
		die("chmod /tmp");
	}
	close(dir);
}

/*
 * An interactive run: a pseudo-terminal of the container's own, from the
 * devpts mount_dev() made, so that inside it is /dev/pts/0, as with runc.
 * We open its master here, where /dev/ptmx is ours, keep the slave as our
 * controlling terminal and our fds 0, 1 and 2, and pass the master to the
 * tool over the socket we share (SCM_RIGHTS): the tool relays it to the
 * user's terminal.
 */
static void open_terminal(struct child_args *args)
{
	int master, slave;

	if (!args->opts->tty)
		return;
	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master == -1)
		die("open /dev/ptmx");
	if (unlockpt(master) == -1)
		die("unlockpt /dev/ptmx");
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave == -1)
		die("ioctl TIOCGPTPEER");
	send_fd(args->sync_fd[1], master);
	close(master);
	attach_terminal(slave);
	trace("the container's terminal is /dev/pts/0 of its own devpts");
}

/* The host's PATH lists the host's directories, which mean nothing in the
 * image: use the usual ones, as docker does for an image that sets none. */
static void set_path(void)
{
	if (setenv("PATH", DEFAULT_PATH, 1) == -1)
		die("setenv PATH");
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

/*
 * Where clone3(2) could not start it inside its cgroup (v1, or an old
 * kernel), the container's first process moves itself in before it runs
 * anything: everything it forks from then on is born inside.  The tool
 * stays out: it is not part of the container, and it would take one of the
 * pids.max places.  "0" means the writer itself.  On v1 we write to tasks,
 * which moves one thread, the caller: moving a whole process through
 * cgroup.procs takes a lock that, from Linux 6.0 on, waits for an RCU grace
 * period, a few scheduler ticks on every start (docs/performance.md).
 */
static void join_cgroup(struct child_args *args)
{
	const struct cgroup *cg = args->cg;
	char path[PATH_BUF];

	if (args->in_cgroup)
		return; /* clone3 started us there */
	for (int i = 0; i < cg->nh; i++) {
		make_path(path, sizeof(path), "%s/%s", cg->h[i].dir,
			  cg->h[i].v2 ? "cgroup.procs" : "tasks");
		if (write_file(path, "0") == -1)
			die("join the cgroup: write 0 to %s", path);
	}
	trace("joined cgroup %s before running anything", cg->h[0].dir);
}
/*
 * A cgroup namespace makes the cgroup its first process is in the root of
 * what the container sees: /proc/self/cgroup shows "/", and a cgroup
 * filesystem mounted inside shows that subtree only.  The root is fixed
 * when the namespace is made, so it is made once the child is in its
 * cgroup: a step earlier, the root would be the tool's cgroup.
 */
static void enter_cgroup_namespace(void)
{
	if (unshare(CLONE_NEWCGROUP) == -1)
		die("unshare CLONE_NEWCGROUP");
	trace("unshare CLONE_NEWCGROUP: the container's cgroup is its \"/\"");
}

/* /sys/fs/cgroup, read-only, where a program reads its own limits.  On v2,
 * cgroup2 mounted in the namespace shows the container's cgroup as its
 * top.  v1 has a hierarchy per controller: mount_v1_view() (cgroup_life.c)
 * binds the container's cgroup of each one in.  Without root, /sys is the
 * host's, bound in, and /sys/fs/cgroup the root of the host's cgroup2
 * mount: the kernel refuses a filesystem mounted again on its own root
 * (EBUSY), so a tmpfs goes between them first. */
static void mount_cgroup_view(const struct cgroup *cg)
{
	unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	char path[32];
	int dir = open_in_root("/sys/fs/cgroup"), rc;

	if (cg->nh == 1 && cg->h[0].v2) {
		rc = mount("cgroup2", fd_path(dir, path, sizeof(path)),
			   "cgroup2", flags, NULL);
		if (rc == -1 && errno == EBUSY) {
			if (mount("tmpfs", path, "tmpfs", flags & ~MS_RDONLY,
				  "size=0,mode=755") == -1)
				die("mount tmpfs on /sys/fs/cgroup");
			close(dir);
			dir = open_in_root("/sys/fs/cgroup");
			rc = mount("cgroup2", fd_path(dir, path, sizeof(path)),
				   "cgroup2", flags, NULL);
		}
		if (rc == -1)
			die("mount cgroup2 on /sys/fs/cgroup");
	} else {
		mount_v1_view(cg, dir);
	}
	close(dir);
	trace("mount the container's cgroup on /sys/fs/cgroup, read-only");
}

/* Tell the tool that the setup is done and the command is about to start,
 * so that it keeps what it made for this run. */
static void report_started(struct child_args *args)
{
	if (send(args->sync_fd[1], "s", 1, MSG_NOSIGNAL) != 1)
		die("send to the tool");
}

static int child(void *arg)
{
	struct child_args *args = arg;

	die_with_parent(args);
	new_session();
	join_cgroup(args);
	enter_cgroup_namespace();
	set_hostname(args->opts->hostname);
	make_mounts_private();
	open_host_dirs(args);
	mount_root(args);
	mount_proc();
	mount_dev();
	mount_shm();
	mount_sys();
	mount_cgroup_view(args->cg);
	make_tmp();
	mount_volumes(args);
	enter_new_root();
	lock_mounts(args->sync_fd[1]);
	set_path();
	open_terminal(args);
	report_started(args);
	close_other_fds();
	if (args->opts->init)
		run_init(args);
	if (sigprocmask(SIG_SETMASK, &args->sigmask, NULL) == -1)
		die("sigprocmask");
	exec_command(args->opts->command);
}

/* ---- the parent, on the host ---- */

/*
 * --layer DIR keeps the writable layer on the host: the one thing this
 * stage creates there.  main() makes and locks it before the container
 * starts (make_layer() in common/root.c), and at the end removes what it
 * made and the container never used (finish_layer()): all of it if the
 * command never started, or else an upper layer left empty.  Did the child
 * report that its command started?  Its word stays in the socket after it
 * exits.
 */
static int command_started(struct child_args *args)
{
	char word;

	return recv(args->sync_fd[0], &word, 1, MSG_DONTWAIT) == 1;
}

/* The tool's half of die_with_parent(): wait until the child has armed its
 * death signal, then let it go on.  No word means the child died first;
 * supervise() then reports its status.  Without root, the child is in a
 * user namespace of its own, and is nobody there until the tool writes its
 * uid and gid maps: that too must happen before the go-ahead. */
static void let_child_go(struct child_args *args, pid_t pid)
{
	char armed;

	close(args->sync_fd[1]);
	if (recv(args->sync_fd[0], &armed, 1, 0) != 1)
		return;
	map_user_to_root(pid);
	if (send(args->sync_fd[0], "g", 1, MSG_NOSIGNAL) == -1 &&
	    errno != EPIPE)
		die("send the go-ahead to the child");
}

/*
 * v2's "no internal processes" rule: a cgroup other than the root either
 * holds processes or passes controllers on to its children, not both.  So
 * PARENT holds no process, only our cgroups, and passes on the controllers:
 * a controller is in a cgroup only if it is enabled in the
 * cgroup.subtree_control of every ancestor, from the root down.  The root's
 * is left as it is afterwards: systemd enables these there at boot, and
 * other cgroups may have come to use them since.
 */
static void enable_controllers(const struct cgroup *cg, const char *dir)
{
	char path[PATH_BUF], enabled[256];

	make_path(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	if (read_file(path, enabled, sizeof(enabled)) == -1)
		die("read %s", path);
	for (int c = 0; c < NCONTROLLERS; c++) {
		if (!cg->h[cg->of[c]].v2 || has_word(enabled, controllers[c]))
			continue;
		if (write_file(path, "+%s", controllers[c]) == -1)
			die_hint(cgroup_hint(errno), "enable %s in %s",
				 controllers[c], path);
		trace("enable the %s controller in %s", controllers[c], path);
	}
}

/*
 * The limits, in each interface's own words.  v1's memory.limit_in_bytes
 * caps RAM only; memory.memsw.limit_in_bytes caps RAM plus swap, so the
 * same value there allows no swap at all (and it may not be set below the
 * first, hence the order).  v2 caps swap on its own.  A CPU limit is run
 * time per period: 2 CPUs is 200 ms in every 100 ms.  The swap files exist
 * only where the kernel accounts for swap.
 */
static void write_limits(const struct cgroup *cg, const struct options *opts)
{
	char pids[24], mem[24], quota[24], period[24], cpu_max[48];
	char path[PATH_BUF];
	const struct {
		int controller;
		const char *v1_file, *v1_value;
		const char *v2_file, *v2_value;
		int optional;
	} limits[] = {
		{PIDS, "pids.max", pids, "pids.max", pids, 0},
		{MEMORY, "memory.limit_in_bytes", mem, "memory.max", mem, 0},
		{MEMORY, "memory.memsw.limit_in_bytes", mem, "memory.swap.max",
		 "0", 1},
		{CPU, "cpu.cfs_period_us", period, "cpu.max", cpu_max, 0},
		{CPU, "cpu.cfs_quota_us", quota, NULL, NULL, 0},
	};

	snprintf(pids, sizeof(pids), "%ld", opts->pids_limit);
	snprintf(mem, sizeof(mem), "%lld", opts->memory);
	snprintf(quota, sizeof(quota), "%ld", opts->cpu_quota_us);
	snprintf(period, sizeof(period), "%ld", opts->cpu_period_us);
	snprintf(cpu_max, sizeof(cpu_max), "%s %s", quota, period);
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		const struct hierarchy *h =
			&cg->h[cg->of[limits[i].controller]];
		const char *file =
			h->v2 ? limits[i].v2_file : limits[i].v1_file;
		const char *value =
			h->v2 ? limits[i].v2_value : limits[i].v1_value;

		if (file == NULL)
			continue;
		make_path(path, sizeof(path), "%s/%s", h->dir, file);
		if (write_file(path, "%s", value) == -1) {
			if (errno == ENOENT && limits[i].optional) {
				trace("no %s: this kernel does not account for swap",
				      file);
				continue;
			}
			die_hint(
				errno == ENOENT
					? "the kernel was built without this feature"
					: NULL,
				"write %s to %s", value, path);
		}
		trace("write %s to %s", value, path);
	}
}

/*
 * Make our cgroup in each hierarchy and write the limits, all before the
 * container exists, so that any error comes first.  The look at other runs'
 * cgroups and the mkdir happen under one lock (cgroup_life.c); from our
 * mkdir on, every way out of the tool removes the cgroup.
 */
static void create_cgroup(struct cgroup *cg, const struct options *opts)
{
	lock_cgroups();
	prune_stale_cgroups(cg);
	for (int i = 0; i < cg->nh; i++) {
		struct hierarchy *h = &cg->h[i];

		if (h->v2)
			enable_controllers(cg, h->root);
		if (mkdir(h->parent, 0755) == 0)
			trace("created cgroup %s, the parent of every container's cgroup",
			      h->parent);
		else if (errno != EEXIST)
			die_hint(cgroup_hint(errno), "mkdir %s", h->parent);
		if (h->v2)
			enable_controllers(cg, h->parent);
		if (mkdir(h->dir, 0755) == -1) {
			/* Stale ones are gone: one that exists is in use. */
			if (errno == EEXIST)
				diex("the name '%s' is in use by a running container, whose cgroup is %s",
				     cg->name, h->dir);
			die_hint(cgroup_hint(errno), "mkdir %s", h->dir);
		}
		if (i == 0)
			own_cgroup(cg);
		trace("created cgroup %s", h->dir);
	}
	unlock_cgroups();
	write_limits(cg, opts);
}
/*
 * On v2, the container starts inside its cgroup: clone3(2) with
 * CLONE_INTO_CGROUP (Linux 5.7) takes the cgroup as a directory fd, and the
 * child's first instruction already runs under its limits.  Nothing moves,
 * so nothing waits for the lock that a move takes.  Returns -1 where that
 * cannot be done (v1, or a kernel or seccomp filter without clone3); the
 * child then joins by itself, in join_cgroup().
 */
static pid_t clone_into_cgroup(struct child_args *args)
{
	const struct cgroup *cg = args->cg;
	struct clone_args how = {.flags = CLONE_FLAGS | user_namespace_flag() |
					  CLONE_INTO_CGROUP,
				 .exit_signal = SIGCHLD};
	pid_t pid;
	int fd;

	if (cg->nh != 1 || !cg->h[0].v2)
		return -1; /* v1 or hybrid: no single cgroup to start in */
	if (fallback_forced("clone3")) {
		trace("clone3 not used (CONTAINER_FORCE_FALLBACK): the child joins its cgroup itself");
		return -1;
	}
	fd = open(cg->h[0].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		die("open %s", cg->h[0].dir);
	how.cgroup = (unsigned int)fd;
	args->in_cgroup = 1;
	pid = (pid_t)syscall(SYS_clone3, &how, sizeof(how));
	if (pid == 0)
		_exit(child(args)); /* the child, on a copy of our stack */
	close(fd);
	if (pid == -1 && (errno == ENOSYS || errno == E2BIG)) {
		trace("clone3 with CLONE_INTO_CGROUP refused (%s): the child joins its cgroup itself",
		      strerror(errno));
		args->in_cgroup = 0;
		return -1;
	}
	if (pid == -1)
		die_hint(clone_hint(), "clone3");
	trace("clone3 with CLONE_INTO_CGROUP: the child starts in %s",
	      cg->h[0].dir);
	return pid;
}

static pid_t start_container(struct child_args *args)
{
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		       args->sync_fd) == -1)
		die("socketpair");
	trace("clone with CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS: new UTS, PID and mount namespaces");
	pid = clone_into_cgroup(args);
	if (pid == -1)
		pid = clone(child, alloc_stack(STACK_SIZE),
			    CLONE_FLAGS | user_namespace_flag() | SIGCHLD,
			    args);
	if (pid == -1)
		die_hint(clone_hint(), "clone");
	if (args->opts->init)
		trace("init runs as PID %d on the host, PID 1 in the container",
		      pid);
	else
		trace("running [%s] as PID %d on the host, PID 1 in the container",
		      command_line(args->opts->command), pid);
	let_child_go(args, pid);
	map_inner_namespace(pid, args->sync_fd[0]);
	if (args->opts->tty)
		terminal_master = receive_fd(args->sync_fd[0]);
	return pid;
}

static void usage(void)
{
	printf("NAME\n"
	       "    stage5-cgroups/container - run a command in a root filesystem of its own,\n"
	       "    with limits on processes, memory and CPU\n"
	       "\n"
	       "SYNOPSIS\n"
	       "    container run [OPTIONS] [--] COMMAND [ARG...]\n"
	       "    container --help | --version\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Stage 5 of containers from scratch. Runs COMMAND in new UTS, PID\n"
	       "    and mount namespaces, with an image as its root filesystem. The\n"
	       "    image is the read-only lower layer of an overlay: writes go to an\n"
	       "    upper layer, and the image is never modified. The container gets\n"
	       "    a fresh /proc, a minimal /dev with a /dev/shm, a read-only /sys\n"
	       "    and a writable /tmp. It runs in a control group of its own, which\n"
	       "    caps its processes, memory and CPU time, and in a cgroup namespace\n"
	       "    whose root is that cgroup. Without root, it runs in a user\n"
	       "    namespace of its own, and needs cgroup v2 with a subtree\n"
	       "    delegated to the caller.\n");
	print_options(STAGE);
	printf("\n"
	       "SEE ALSO\n"
	       "    cgroups(7), cgroup_namespaces(7), pivot_root(2), mount(2),\n"
	       "    mount_namespaces(7), mknod(2), overlayfs\n");
}

int main(int argc, char **argv)
{
	struct options opts;
	struct cgroup cg = {.owner_fd = -1};
	struct child_args args = {.opts = &opts, .cg = &cg};
	long long kills;
	int wstatus;
	pid_t pid;

	block_signals(&args.sigmask);
	parse_args(argc, argv, STAGE, usage, &opts);
	trace_prefix = "stage5";
	make_layer(&args.layer, opts.layer);
	make_scratch_layer(&args.scratch, &opts);
	find_controllers(&cg, &opts);
	create_cgroup(&cg, &opts);
	pid = start_container(&args);
	keep_layer_owner(&args.scratch, pid);
	wstatus = supervise(pid);
	remove_scratch_layer(&args.scratch);
	kills = oom_kills(&cg);
	finish_layer(&args.layer, command_started(&args));
	remove_cgroup(&cg);
	report_oom(kills, wstatus, opts.memory);
	return exit_status(wstatus);
}
