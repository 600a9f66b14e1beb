/*
 * stage5-cgroups - a control group of its own: at most 20 processes, 500 MB
 * of memory and 2 CPUs' worth of time, by default.
 *
 * What is new: namespaces change what a container can see, not how much it
 * can use; in stage 4 a fork bomb still takes the whole machine.  A control
 * group (cgroup) is a set of processes that the kernel accounts for and
 * limits as one.  The tool makes a cgroup for each container, writes the
 * limits into its files, moves the container's first process into it before
 * that process runs anything, and removes it when the container ends.  Every
 * process the command forks is born in the same cgroup, so a fork bomb stops
 * at pids.max: fork(2) fails with EAGAIN.
 *
 * Linux has two interfaces to cgroups.  v1 mounts each controller as a
 * hierarchy of its own (/sys/fs/cgroup/pids, /sys/fs/cgroup/memory, ...); v2
 * has one unified hierarchy for all of them, with other file names.  Systems
 * moved from v1 through "hybrid" (v1 controllers, plus a cgroup2 with none
 * at /sys/fs/cgroup/unified) to pure v2.  statfs(2) tells them apart, and
 * the table in write_limits() shows the two sets of names side by side.
 *
 * See: cgroups(7), statfs(2), flock(2), the kernel's
 *      Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/ (pids.rst,
 *      memory.rst), and Documentation/scheduler/sched-bwc.rst (CPU quotas)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define STAGE	    5
#define CLONE_FLAGS (CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS)

/* The default writable layer is a tmpfs: memory, so it is capped. */
#define DEFAULT_PATH                                                           \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SCRATCH_OPTIONS "mode=0755,size=1g"

/* A container's cgroup is PARENT/NAME in each hierarchy it uses: for
 * instance /sys/fs/cgroup/pids/container/NAME (v1), or
 * /sys/fs/cgroup/container/NAME (v2). */
#define CGROUP_ROOT   "/sys/fs/cgroup"
#define CGROUP_PARENT "container"
/* A cgroup stays busy until its last process has finished exiting. */
#define REMOVE_TRIES 500 /* of 10 ms: 5 seconds */

/* The controllers this stage uses.  Each one is bound either to a v1
 * hierarchy of its own or to the unified (v2) hierarchy. */
enum { PIDS, MEMORY, CPU, NCONTROLLERS };
static const char *const controllers[NCONTROLLERS] = {"pids", "memory", "cpu"};

/* A hierarchy we use, and our cgroup in it. */
struct hierarchy {
	char root[64]; /* /sys/fs/cgroup/pids, or the unified root */
	int v2;	       /* cgroup2: v2 names, and cgroup.subtree_control */
	char dir[256]; /* root/container/NAME */
	int created;   /* we made dir, so we remove it */
};

/* The container's cgroup.  Global because the cleanup runs from atexit(3),
 * which passes no argument. */
static struct {
	const char *name;		  /* --name, or ctr-<the tool's PID> */
	struct hierarchy h[NCONTROLLERS]; /* one on v2; up to three on v1 */
	int nh;
	int of[NCONTROLLERS]; /* controller -> its hierarchy in h[] */
	int owner_fd;	      /* h[0].dir, locked for as long as we live */
	int lock_fd;	      /* CGROUP_ROOT, while we hold the global lock */
	pid_t tool;	      /* who cleans up: the tool, not its clone */
	int removed;	      /* remove_cgroup() has run */
} cg = {.owner_fd = -1, .lock_fd = -1};

/* What the child needs from the parent: clone(2) passes one pointer. */
struct child_args {
	struct options *opts;
	int image_fd;		    /* the image, opened before covering it */
	int layer_fd;		    /* --layer DIR, or -1 */
	int volume_fd[MAX_VOLUMES]; /* each --volume's host directory */
	int sync_fd[2];		    /* the parent's go-ahead; EOF if it died */
	sigset_t sigmask;	    /* the mask to restore before exec */
};

/* ---- the child, inside the new namespaces ---- */

/*
 * The container must not outlive the tool, even if the tool is killed with
 * SIGKILL and can clean nothing up.  PR_SET_PDEATHSIG asks the kernel to
 * kill us when our parent dies.  But the parent may already have died before
 * we asked, and then no signal comes; getppid() cannot tell us, since in a
 * new PID namespace it returns 0.  So we wait for the parent's go-ahead on a
 * pipe: a pipe whose writer died reads as end-of-file.
 */
static void die_with_parent(struct child_args *args)
{
	char go;

	close(args->sync_fd[1]);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		die("prctl PR_SET_PDEATHSIG");
	if (read(args->sync_fd[0], &go, 1) != 1)
		_exit(EXIT_TOOL_FAILED); /* the tool is gone: so are we */
	close(args->sync_fd[0]);
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

/* "/proc/self/fd/N": a path to what fd N is open on, even where a mount
 * now covers its old name. */
static const char *fd_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
	return buf;
}

/*
 * Open every host directory we need, while their paths still mean what the
 * user meant: mount_root() covers the image's path with a scratch tmpfs.
 * They are opened here, in the new mount namespace, because overlayfs and
 * bind mounts accept only paths in the caller's own namespace.  --layer DIR
 * is created if new, with the upper and work directories overlayfs needs.
 */
static void open_host_dirs(struct child_args *args)
{
	const struct options *opts = args->opts;
	char path[PATH_MAX];

	args->image_fd = open(opts->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (args->image_fd == -1)
		die("open image %s", opts->rootfs);
	args->layer_fd = -1;
	if (opts->layer) {
		snprintf(path, sizeof(path), "%s/upper", opts->layer);
		if (mkdir_p(path, 0755) == -1)
			die("mkdir %s", path);
		snprintf(path, sizeof(path), "%s/work", opts->layer);
		if (mkdir_p(path, 0755) == -1)
			die("mkdir %s", path);
		args->layer_fd =
			open(opts->layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (args->layer_fd == -1)
			die("open --layer %s", opts->layer);
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
 * whose upper layer takes every write.  The scratch tmpfs that holds the
 * mount point (and, without --layer, the upper layer) is mounted over the
 * image's own path, in our private namespace only: nothing is created on the
 * host, and the kernel frees it all when the namespace dies.  The image and
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
	if (opts->layer) {
		fd_path(args->layer_fd, layer, sizeof(layer));
		trace("writable layer kept in %s/upper", opts->layer);
	} else {
		if (mkdir("layer", 0755) == -1 ||
		    mkdir("layer/upper", 0755) == -1 ||
		    mkdir("layer/work", 0755) == -1)
			die("mkdir the layer in the scratch tmpfs");
		snprintf(layer, sizeof(layer), "%s", "layer");
		trace("writable layer on a tmpfs, discarded at exit");
	}
	snprintf(data, sizeof(data),
		 "lowerdir=%s,upperdir=%s/upper,workdir=%s/work", lower, layer,
		 layer);
	if (mkdir("root", 0755) == -1)
		die("mkdir the mount point in the scratch tmpfs");
	if (mount("overlay", "root", "overlay", 0, data) == -1)
		die_hint(
			"overlayfs needs a kernel with overlay, and an upper layer on a filesystem such as ext4, xfs or tmpfs",
			"mount overlay with image %s", opts->rootfs);
	if (chdir("root") == -1)
		die("chdir into the overlay");
	trace("mount overlay: image %s read-only below, writes above",
	      opts->rootfs);
}

/*
 * Open a directory of the new root, making it and its parents if missing,
 * like mkdir -p.  Not by its plain path: we have not pivoted yet, so an
 * absolute symlink in the image (/data -> /etc) would lead to the host's
 * /etc.  openat2(2) with RESOLVE_IN_ROOT resolves every step as if the new
 * root, our working directory, were already "/".  Returns an O_PATH
 * descriptor.
 */
static int open_in_root(const char *path)
{
	struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT};
	char prefix[PATH_MAX] = "";
	size_t used = 0, len;
	int root, dir = -1, parent;

	root = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root == -1)
		die("open the new root");
	for (const char *c = path;; c += len) {
		c += strspn(c, "/");
		if (*c == '\0')
			break;
		len = strcspn(c, "/");
		used += (size_t)snprintf(prefix + used, sizeof(prefix) - used,
					 "/%.*s", (int)len, c);
		parent = dir == -1 ? root : dir;
		dir = (int)syscall(SYS_openat2, root, prefix, &how,
				   sizeof(how));
		if (dir == -1 && errno == ENOENT) {
			/* prefix's last part, in the parent opened last */
			if (mkdirat(parent, prefix + used - len, 0755) == -1 &&
			    errno != EEXIST)
				die("mkdir %s in the container", prefix);
			dir = (int)syscall(SYS_openat2, root, prefix, &how,
					   sizeof(how));
		}
		if (dir == -1)
			die("open %s in the container", prefix);
		if (parent != root)
			close(parent);
	}
	close(root);
	return dir;
}

/* --volume HOST:CONTAINER[:ro]: bind-mount a host directory into the root.
 * A read-only bind needs a second mount call: MS_RDONLY is ignored on the
 * first MS_BIND.  It opens the mount point again, to get the new mount and
 * not the directory under it. */
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
		if (v->read_only) {
			dir = open_in_root(v->container);
			fd_path(dir, target, sizeof(target));
			if (mount(NULL, target, NULL,
				  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID |
					  MS_NODEV,
				  NULL) == -1)
				die("remount %s read-only", v->container);
			close(dir);
		}
		trace("bind-mount %s on %s%s", v->host, v->container,
		      v->read_only ? " (read-only)" : "");
	}
}

/*
 * A /dev with only what programs expect and nothing that reaches the host's
 * disks: a tmpfs with six harmless character devices, the usual links into
 * /proc/self/fd, and a devpts of our own so shells can open terminals.
 */
static void mount_dev(void)
{
	static const struct {
		const char *path;
		unsigned int major, minor;
	} devices[] = {
		{"dev/null", 1, 3},   {"dev/zero", 1, 5},    {"dev/full", 1, 7},
		{"dev/random", 1, 8}, {"dev/urandom", 1, 9}, {"dev/tty", 5, 0},
	};
	static const char *const links[][2] = {
		{"/proc/self/fd", "dev/fd"},
		{"/proc/self/fd/0", "dev/stdin"},
		{"/proc/self/fd/1", "dev/stdout"},
		{"/proc/self/fd/2", "dev/stderr"},
		{"pts/ptmx", "dev/ptmx"},
	};

	if (mkdir("dev", 0755) == -1 && errno != EEXIST)
		die("mkdir /dev");
	if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
		  "mode=0755,size=64k") == -1)
		die("mount tmpfs on /dev");
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		if (mknod(devices[i].path, S_IFCHR | 0666,
			  makedev(devices[i].major, devices[i].minor)) == -1)
			die("mknod /%s", devices[i].path);
		/* mknod applies the umask; the devices are for everyone. */
		if (chmod(devices[i].path, 0666) == -1)
			die("chmod /%s", devices[i].path);
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][0], links[i][1]) == -1)
			die("symlink /%s", links[i][1]);
	if (mkdir("dev/pts", 0755) == -1)
		die("mkdir /dev/pts");
	/* newinstance: the container's own ptys, not the host's. */
	if (mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620") == -1)
		die("mount devpts on /dev/pts");
	trace("mount a minimal /dev: null zero full random urandom tty, and devpts");
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

/* A proc mount shows the PID namespace of the process that mounts it: ours. */
static void mount_proc(void)
{
	if (mkdir("/proc", 0555) == -1 && errno != EEXIST)
		die("mkdir /proc");
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) == -1)
		die("mount proc on /proc");
	trace("mount proc on /proc");
}

/* /tmp must be writable by anyone, even if the image forgot it.  Only a
 * wrong mode is changed: on an overlay even a chmod that changes nothing
 * copies /tmp up, and the upper layer must hold only the container's own
 * changes. */
static void make_tmp(void)
{
	struct stat st;

	if (mkdir("/tmp", 01777) == -1 && errno != EEXIST)
		die("mkdir /tmp");
	if (stat("/tmp", &st) == -1)
		die("stat /tmp");
	if ((st.st_mode & 07777) != 01777 && chmod("/tmp", 01777) == -1)
		die("chmod /tmp");
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
 * still running in the namespace.
 */
static noreturn void run_init(struct child_args *args)
{
	int wstatus;
	siginfo_t info;
	sigset_t set;
	pid_t cmd, pid;

	cmd = fork();
	if (cmd == -1)
		die("fork");
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
 * The container's first process moves itself into its cgroup in every
 * hierarchy, before it runs anything: everything it forks from then on is
 * born inside.  The tool stays out: it is not part of the container, and it
 * would take one of the pids.max places.  "0" means the writer itself.  On
 * v1 we write to tasks, which moves one thread, the caller: moving a whole
 * process through cgroup.procs takes a global lock that waits for an RCU
 * grace period, some 10 ms on every start (docs/performance.md).  v2 has no
 * such shortcut, so there it is cgroup.procs.
 */
static void join_cgroup(void)
{
	char path[PATH_BUF];

	for (int i = 0; i < cg.nh; i++) {
		snprintf(path, sizeof(path), "%s/%s", cg.h[i].dir,
			 cg.h[i].v2 ? "cgroup.procs" : "tasks");
		if (write_file(path, "0") == -1)
			die("join the cgroup: write 0 to %s", path);
	}
	trace("joined cgroup %s before running anything", cg.h[0].dir);
}

static int child(void *arg)
{
	struct child_args *args = arg;

	die_with_parent(args);
	join_cgroup();
	set_hostname(args->opts->hostname);
	make_mounts_private();
	open_host_dirs(args);
	mount_root(args);
	mount_volumes(args);
	mount_dev();
	enter_new_root();
	mount_proc();
	make_tmp();
	set_path();
	if (args->opts->init)
		run_init(args);
	if (sigprocmask(SIG_SETMASK, &args->sigmask, NULL) == -1)
		die("sigprocmask");
	exec_command(args->opts->command);
}

/* ---- the parent, on the host ---- */

/* The filesystem type at path, as statfs(2) reports it; 0 if none. */
static long fs_type(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 ? (long)st.f_type : 0;
}

static void use_hierarchy(int controller, const char *root, int v2)
{
	struct hierarchy *h;
	int i;

	for (i = 0; i < cg.nh && strcmp(cg.h[i].root, root) != 0; i++)
		;
	h = &cg.h[i];
	if (i == cg.nh) {
		cg.nh++;
		snprintf(h->root, sizeof(h->root), "%s", root);
		snprintf(h->dir, sizeof(h->dir), "%s/%s/%s", root,
			 CGROUP_PARENT, cg.name);
		h->v2 = v2;
	}
	cg.of[controller] = i;
	trace("the %s controller is in the %s hierarchy at %s",
	      controllers[controller], v2 ? "unified (v2)" : "v1", root);
}

/*
 * Where each controller lives.  Not guessed from paths: statfs(2) on
 * /sys/fs/cgroup says cgroup2 on a pure v2 system, and a tmpfs holding the
 * v1 hierarchies otherwise, each one a cgroup filesystem at
 * /sys/fs/cgroup/<controller>; a hybrid system also has a cgroup2 at
 * /sys/fs/cgroup/unified.  A controller bound to a v1 hierarchy is absent
 * from the unified one, whose cgroup.controllers lists what it can offer.
 */
static void find_controllers(const struct options *opts)
{
	static char unique[32];
	char path[PATH_MAX], offered[256] = "";
	const char *unified = NULL, *mode;
	long root = fs_type(CGROUP_ROOT);

	/* Without --name: unique among running tools, whose PIDs differ. */
	snprintf(unique, sizeof(unique), "ctr-%d", getpid());
	cg.name = opts->name ? opts->name : unique;

	if (root == CGROUP2_SUPER_MAGIC) {
		unified = CGROUP_ROOT;
		mode = "v2, one unified hierarchy";
	} else if (root == TMPFS_MAGIC &&
		   fs_type(CGROUP_ROOT "/unified") == CGROUP2_SUPER_MAGIC) {
		unified = CGROUP_ROOT "/unified";
		mode = "hybrid, v1 hierarchies and a cgroup2 at " CGROUP_ROOT
		       "/unified";
	} else if (root == TMPFS_MAGIC) {
		mode = "v1, a hierarchy for each controller";
	} else {
		diex("no cgroup filesystem at %s: mount one with 'mount -t cgroup2 none %s'",
		     CGROUP_ROOT, CGROUP_ROOT);
	}
	trace("cgroup mode: %s", mode);
	if (unified) {
		snprintf(path, sizeof(path), "%s/cgroup.controllers", unified);
		if (read_file(path, offered, sizeof(offered)) == -1)
			die("read %s", path);
	}
	for (int c = 0; c < NCONTROLLERS; c++) {
		snprintf(path, sizeof(path), "%s/%s", CGROUP_ROOT,
			 controllers[c]);
		if (root == TMPFS_MAGIC && fs_type(path) == CGROUP_SUPER_MAGIC)
			use_hierarchy(c, path, 0);
		else if (unified && has_word(offered, controllers[c]))
			use_hierarchy(c, unified, 1);
		else if (root == TMPFS_MAGIC)
			diex("no %s controller: no v1 hierarchy at %s%s%s; mount one (mount -t cgroup -o %s cgroup %s), or boot a kernel that has it, without cgroup_disable=%s",
			     controllers[c], path,
			     unified ? " and none in the cgroup2 at " : "",
			     unified ? unified : "", controllers[c], path,
			     controllers[c]);
		else
			diex("no %s controller: %s/cgroup.controllers lacks it; boot a kernel that has it, without cgroup_disable=%s",
			     controllers[c], unified, controllers[c]);
	}
}

/*
 * Runs of the tool start and end at the same time, and each one acts on the
 * cgroups of the others: it removes stale ones, and the last one out
 * removes PARENT.  Each of those look-then-act steps is done under one lock,
 * flock(2) on /sys/fs/cgroup.  A second lock tells whether a cgroup is in
 * use: its owner takes flock(2) on the cgroup's own directory right after
 * making it, under the first lock, and holds it until it has removed it.
 * So a new cgroup, still empty until the container joins it, is never
 * taken for stale; and as the kernel drops a lock when its holder dies,
 * even of SIGKILL, a cgroup that is unlocked and empty has no owner left.
 */
static int lock_cgroups(void)
{
	if (cg.lock_fd != -1)
		return 0; /* held: we are cleaning up after a failure */
	cg.lock_fd = open(CGROUP_ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg.lock_fd == -1)
		return -1;
	if (flock(cg.lock_fd, LOCK_EX) == -1) {
		int saved = errno;

		close(cg.lock_fd);
		cg.lock_fd = -1;
		errno = saved;
		return -1;
	}
	return 0;
}

static void unlock_cgroups(void)
{
	if (cg.lock_fd != -1)
		close(cg.lock_fd);
	cg.lock_fd = -1;
}

static int has_processes(const char *dir)
{
	char path[PATH_BUF], pid[16];

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	return read_file(path, pid, sizeof(pid)) == 0 && pid[0] != '\0';
}

/* In use: its owner holds the lock on it, or it has processes. */
static int in_use(const char *name)
{
	char dir[PATH_MAX];
	int fd, locked;

	snprintf(dir, sizeof(dir), "%s/%s/%s", cg.h[0].root, CGROUP_PARENT,
		 name);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1) {
		locked = flock(fd, LOCK_EX | LOCK_NB) == -1;
		close(fd);
		if (locked)
			return 1;
	}
	for (int i = 0; i < cg.nh; i++) {
		snprintf(dir, sizeof(dir), "%s/%s/%s", cg.h[i].root,
			 CGROUP_PARENT, name);
		if (has_processes(dir))
			return 1;
	}
	return 0;
}

/* A tool killed by SIGKILL cannot clean up, and leaves its cgroup behind,
 * empty: the next run removes it. */
static void remove_stale_cgroups(void)
{
	char parent[PATH_MAX], dir[PATH_BUF];
	struct dirent *e;
	DIR *d;

	for (int i = 0; i < cg.nh; i++) {
		snprintf(parent, sizeof(parent), "%s/%s", cg.h[i].root,
			 CGROUP_PARENT);
		d = opendir(parent);
		if (d == NULL && errno == ENOENT)
			continue;
		if (d == NULL)
			die("opendir %s", parent);
		while ((e = readdir(d)) != NULL) {
			if (e->d_type != DT_DIR || e->d_name[0] == '.' ||
			    in_use(e->d_name))
				continue;
			snprintf(dir, sizeof(dir), "%s/%s", parent, e->d_name);
			if (rmdir(dir) == -1)
				warn_msg("rmdir stale cgroup %s: %s", dir,
					 strerror(errno));
			else
				trace("removed stale cgroup %s: its owner is gone",
				      dir);
		}
		closedir(d);
	}
}

/* The well-known causes of a failed mkdir or write in a cgroup filesystem. */
static const char *cgroup_hint(int err)
{
	if (err == EROFS)
		return "the cgroup filesystem is mounted read-only, as inside most containers: run on the host, or remount it read-write";
	if (err == EBUSY)
		return "cgroup v2 lets no cgroup but the root both hold processes and pass controllers on";
	return NULL;
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
static void enable_controllers(const char *dir)
{
	char path[PATH_MAX], enabled[256];

	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	if (read_file(path, enabled, sizeof(enabled)) == -1)
		die("read %s", path);
	for (int c = 0; c < NCONTROLLERS; c++) {
		if (!cg.h[cg.of[c]].v2 || has_word(enabled, controllers[c]))
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
static void write_limits(const struct options *opts)
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
		const struct hierarchy *h = &cg.h[cg.of[limits[i].controller]];
		const char *file =
			h->v2 ? limits[i].v2_file : limits[i].v1_file;
		const char *value =
			h->v2 ? limits[i].v2_value : limits[i].v1_value;

		if (file == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", h->dir, file);
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
 * container exists, so that any error comes first.  From here on, every way
 * out of the tool goes through remove_cgroup().
 */
static void cleanup_cgroup(void);

static void create_cgroup(const struct options *opts)
{
	char parent[PATH_MAX];

	cg.tool = getpid();
	if (atexit(cleanup_cgroup) != 0)
		diex("atexit: cannot register the cleanup");
	if (lock_cgroups() == -1)
		die("flock %s", CGROUP_ROOT);
	remove_stale_cgroups();
	for (int i = 0; i < cg.nh; i++) {
		struct hierarchy *h = &cg.h[i];

		snprintf(parent, sizeof(parent), "%s/%s", h->root,
			 CGROUP_PARENT);
		if (h->v2)
			enable_controllers(h->root);
		if (mkdir(parent, 0755) == 0)
			trace("created cgroup %s, the parent of every container's cgroup",
			      parent);
		else if (errno != EEXIST)
			die_hint(cgroup_hint(errno), "mkdir %s", parent);
		if (h->v2)
			enable_controllers(parent);
		if (mkdir(h->dir, 0755) == -1) {
			/* Stale ones are gone: one that exists is in use. */
			if (errno == EEXIST)
				diex("the name '%s' is in use by a running container, whose cgroup is %s",
				     cg.name, h->dir);
			die_hint(cgroup_hint(errno), "mkdir %s", h->dir);
		}
		h->created = 1;
		trace("created cgroup %s", h->dir);
	}
	cg.owner_fd = open(cg.h[0].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg.owner_fd == -1 || flock(cg.owner_fd, LOCK_EX | LOCK_NB) == -1)
		die("flock %s", cg.h[0].dir);
	unlock_cgroups();
	write_limits(opts);
}

/* How many processes the OOM killer killed in our cgroup: the "oom_kill"
 * line of memory.events (v2) or memory.oom_control (v1). */
static long long oom_kills(void)
{
	const struct hierarchy *h = &cg.h[cg.of[MEMORY]];
	char path[PATH_BUF];
	long long n;

	snprintf(path, sizeof(path), "%s/%s", h->dir,
		 h->v2 ? "memory.events" : "memory.oom_control");
	if (read_key(path, "oom_kill", &n) == -1) {
		warn_msg("read oom_kill from %s: %s", path, strerror(errno));
		return 0;
	}
	return n;
}

/*
 * Kill whatever is still in a cgroup.  When PID 1 of a PID namespace exits
 * the kernel kills the rest, but a process can also have been moved in from
 * outside.  v2 has cgroup.kill (Linux 5.14), which also catches a process
 * that forks while we kill; v1 has not, so we kill what cgroup.procs lists,
 * and the caller looks again.
 */
static void kill_all(const struct hierarchy *h)
{
	char path[PATH_BUF];
	FILE *f;
	int pid;

	snprintf(path, sizeof(path), "%s/cgroup.kill", h->dir);
	if (h->v2 && write_file(path, "1") == 0)
		return;
	snprintf(path, sizeof(path), "%s/cgroup.procs", h->dir);
	f = fopen(path, "re");
	if (f == NULL)
		return;
	while (fscanf(f, "%d", &pid) == 1)
		if (kill(pid, SIGKILL) == -1 && errno != ESRCH)
			warn_msg("kill %d: %s", pid, strerror(errno));
	fclose(f);
}

/* rmdir fails with EBUSY until the last process has finished exiting. */
static void remove_dir(const struct hierarchy *h)
{
	const struct timespec tick = {0, 10 * 1000 * 1000};

	for (int try = 0;; try++) {
		kill_all(h);
		if (rmdir(h->dir) == 0 || errno == ENOENT)
			break;
		if (errno != EBUSY || try == REMOVE_TRIES) {
			warn_msg("rmdir %s: %s", h->dir, strerror(errno));
			return;
		}
		nanosleep(&tick, NULL);
	}
	trace("removed cgroup %s", h->dir);
}

/*
 * The one cleanup path, however the tool ends: kill what is left, remove
 * our cgroups in the reverse order of their making, release our lock, and
 * remove PARENT if no other container uses it (rmdir fails if one does).
 * It runs from atexit(3) too, so it warns rather than dies.
 */
static void remove_cgroup(void)
{
	char parent[PATH_MAX];

	if (cg.removed)
		return;
	cg.removed = 1;
	for (int i = cg.nh - 1; i >= 0; i--)
		if (cg.h[i].created)
			remove_dir(&cg.h[i]);
	if (cg.owner_fd != -1)
		close(cg.owner_fd);
	if (lock_cgroups() == -1) {
		warn_msg("flock %s: %s", CGROUP_ROOT, strerror(errno));
		return;
	}
	for (int i = cg.nh - 1; i >= 0; i--) {
		if (!cg.h[i].created)
			continue;
		snprintf(parent, sizeof(parent), "%s/%s", cg.h[i].root,
			 CGROUP_PARENT);
		if (rmdir(parent) == 0)
			trace("removed %s: no container is left", parent);
		else if (errno != EBUSY && errno != ENOTEMPTY &&
			 errno != ENOENT)
			warn_msg("rmdir %s: %s", parent, strerror(errno));
	}
	unlock_cgroups();
}

/* die() and exit() run this, in the tool and in the clone child, which
 * inherited the handler with the rest of our memory: only the tool, which
 * made the cgroup, removes it. */
static void cleanup_cgroup(void)
{
	if (getpid() == cg.tool)
		remove_cgroup();
}

/* The OOM killer sends SIGKILL, which tells nobody why: say it. */
static void report_oom(long long kills, int wstatus, long long limit)
{
	char size[32];

	if (kills == 0)
		return;
	format_size(limit, size, sizeof(size));
	if (exit_status(wstatus) == 128 + SIGKILL)
		warn_msg("killed: out of memory (limit %s)", size);
	else
		warn_msg(
			"out of memory (limit %s): %lld process%s killed in the container",
			size, kills, kills == 1 ? "" : "es");
}

static pid_t start_container(struct child_args *args)
{
	pid_t pid;

	if (pipe2(args->sync_fd, O_CLOEXEC) == -1)
		die("pipe2");
	trace("clone with CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS: new UTS, PID and mount namespaces");
	pid = clone(child, alloc_stack(STACK_SIZE), CLONE_FLAGS | SIGCHLD,
		    args);
	if (pid == -1)
		die_hint("creating namespaces needs root", "clone");
	if (args->opts->init)
		trace("init runs as PID %d on the host, PID 1 in the container",
		      pid);
	else
		trace("running [%s] as PID %d on the host, PID 1 in the container",
		      command_line(args->opts->command), pid);
	give_terminal(pid);
	/* Our read end stays open until the go-ahead is written: a child
	 * killed before it read would otherwise leave the pipe without a
	 * reader, and the write would kill us with SIGPIPE, cgroup and all. */
	if (write(args->sync_fd[1], "g", 1) != 1)
		die("write to the child");
	close(args->sync_fd[0]);
	close(args->sync_fd[1]);
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
	       "    a fresh /proc, a minimal /dev and a writable /tmp. It runs in a\n"
	       "    control group of its own, which caps its processes, memory and\n"
	       "    CPU time. Must be run as root.\n");
	print_options(STAGE);
	printf("\n"
	       "SEE ALSO\n"
	       "    cgroups(7), pivot_root(2), mount(2), mount_namespaces(7), mknod(2),\n"
	       "    overlayfs\n");
}

int main(int argc, char **argv)
{
	struct options opts;
	struct child_args args = {.opts = &opts};
	long long kills;
	int wstatus;
	pid_t pid;

	parse_args(argc, argv, STAGE, usage, &opts);
	trace_prefix = "stage5";
	require_root();
	block_signals(&args.sigmask);
	find_controllers(&opts);
	create_cgroup(&opts);
	pid = start_container(&args);
	wstatus = supervise(pid);
	kills = oom_kills();
	remove_cgroup();
	report_oom(kills, wstatus, opts.memory);
	return exit_status(wstatus);
}
