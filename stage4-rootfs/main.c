/*
 * stage4-rootfs - a root filesystem of its own: an overlay, pivot_root and a
 * minimal /dev.
 *
 * What is new: the container stops seeing the host's files.  The image
 * (--rootfs, or the default built by `make rootfs`) becomes the read-only
 * lower layer of an overlay mount; the container's writes land in an upper
 * layer, so the image is never modified.  By default the upper layer is a
 * tmpfs that exists only in the container's mount namespace and vanishes
 * with it, like `docker run --rm`; --layer DIR keeps it on disk instead.
 * Then pivot_root(2) makes the overlay the root and the old root is
 * detached: unlike chroot(2), there is no path back to the host's files.
 * The container gets a fresh /proc and a /dev with only the harmless
 * devices, and --volume bind-mounts host directories in.
 *
 * See: pivot_root(2), mount(2), mount_namespaces(7), overlayfs
 *      (Documentation/filesystems/overlayfs.rst), mknod(2), devpts
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define STAGE	    4
#define CLONE_FLAGS (CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS)

/* The default writable layer is a tmpfs: memory, so it is capped. */
#define DEFAULT_PATH                                                           \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SCRATCH_OPTIONS "mode=0755,size=1g"

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

static int child(void *arg)
{
	struct child_args *args = arg;

	die_with_parent(args);
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
	 * reader, and the write would kill us with SIGPIPE. */
	if (write(args->sync_fd[1], "g", 1) != 1)
		die("write to the child");
	close(args->sync_fd[0]);
	close(args->sync_fd[1]);
	return pid;
}

static void usage(void)
{
	printf("NAME\n"
	       "    stage4-rootfs/container - run a command in a root filesystem of its own\n"
	       "\n"
	       "SYNOPSIS\n"
	       "    container run [OPTIONS] [--] COMMAND [ARG...]\n"
	       "    container --help | --version\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Stage 4 of containers from scratch. Runs COMMAND in new UTS, PID\n"
	       "    and mount namespaces, with an image as its root filesystem. The\n"
	       "    image is the read-only lower layer of an overlay: writes go to an\n"
	       "    upper layer, and the image is never modified. The container gets\n"
	       "    a fresh /proc, a minimal /dev and a writable /tmp. Must be run as\n"
	       "    root.\n");
	print_options(STAGE);
	printf("\n"
	       "SEE ALSO\n"
	       "    pivot_root(2), mount(2), mount_namespaces(7), mknod(2), overlayfs\n");
}

int main(int argc, char **argv)
{
	struct options opts;
	struct child_args args = {.opts = &opts};
	pid_t pid;

	parse_args(argc, argv, STAGE, usage, &opts);
	trace_prefix = "stage4";
	require_root();
	block_signals(&args.sigmask);
	pid = start_container(&args);
	return exit_status(supervise(pid));
}
