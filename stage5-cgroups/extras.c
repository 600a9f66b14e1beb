/*
 * extras.c - stage 4's extras: what makes the container usable, beside the
 * lesson of main.c (a root of its own: the overlay, /proc, /dev and
 * pivot_root).  --volume bind mounts, a /dev/shm and a read-only /sys, a
 * /tmp that anyone can write, a PATH that means something in the image, a
 * terminal of its own for -t, and the word "started" that tells the tool to
 * keep a --layer.  main.c calls each one as a named step of child(); stage
 * 5 has the same file, unchanged (scripts/check-copies.sh checks it).
 *
 * See: mount(2) (MS_BIND), mount_setattr(2), tmpfs(5), sysfs(5), pty(7)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extras.h"

#define DEFAULT_PATH                                                           \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* /dev/shm is memory: docker's size. */
#define SHM_OPTIONS "mode=1777,size=64m"
/* The uid that a file of an unmapped owner shows in a user namespace
 * (/proc/sys/kernel/overflowuid). */
#define OVERFLOW_UID 65534

/*
 * Open each --volume's host directory, while its path still means what the
 * user meant: mount_root() covers the image's path with a scratch tmpfs.
 * It is opened in the new mount namespace, because a bind mount accepts
 * only a path in the caller's own namespace.
 */
void open_volumes(const struct options *opts, int volume_fd[])
{
	for (int i = 0; i < opts->nvolumes; i++) {
		volume_fd[i] = open(opts->volumes[i].host,
				    O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (volume_fd[i] == -1)
			die("open --volume %s", opts->volumes[i].host);
	}
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
void mount_volumes(const struct options *opts, int volume_fd[])
{
	char source[32], target[32];
	int dir;

	for (int i = 0; i < opts->nvolumes; i++) {
		const struct volume *v = &opts->volumes[i];

		dir = open_in_root(v->container);
		fd_path(volume_fd[i], source, sizeof(source));
		fd_path(dir, target, sizeof(target));
		if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) == -1)
			die("bind-mount %s on %s", v->host, v->container);
		close(dir);
		close(volume_fd[i]);
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
 * /dev/shm: POSIX shared memory and semaphores (shm_open(3), sem_open(3),
 * Python's multiprocessing), in a capped tmpfs of the container's own.
 * No /dev/mqueue: it would show the host's POSIX message queues, for the
 * container shares the host's IPC namespace (see docs/04-rootfs.md).
 */
void mount_shm(void)
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
void mount_sys(int rootless)
{
	char path[32];
	int dir;

	if (rootless) {
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

/* /tmp must be writable by anyone, even if the image forgot it.  Only a
 * wrong mode is changed: on an overlay even a chmod that changes nothing
 * copies /tmp up, and the upper layer must hold only the container's own
 * changes.  It runs before the volumes, so a volume on /tmp keeps the
 * host directory's own mode.  Without root, an image that belongs to the
 * host's root belongs to no one in our user namespace, and overlayfs
 * cannot copy such a directory up (EOVERFLOW): /tmp gets a tmpfs. */
void make_tmp(int rootless)
{
	char path[32];
	struct stat st;
	int dir = open_in_root("/tmp");

	if (fstat(dir, &st) == -1)
		die("stat /tmp");
	if (rootless && st.st_uid == OVERFLOW_UID) {
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
void open_terminal(int tty, int sync_fd)
{
	int master, slave;

	if (!tty)
		return;
	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master == -1)
		die("open /dev/ptmx");
	if (unlockpt(master) == -1)
		die("unlockpt /dev/ptmx");
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave == -1)
		die("ioctl TIOCGPTPEER");
	send_fd(sync_fd, master);
	close(master);
	attach_terminal(slave);
	trace("the container's terminal is /dev/pts/0 of its own devpts");
}

/* The host's PATH lists the host's directories, which mean nothing in the
 * image: use the usual ones, as docker does for an image that sets none. */
void set_path(void)
{
	if (setenv("PATH", DEFAULT_PATH, 1) == -1)
		die("setenv PATH");
}

/* Tell the tool that the setup is done and the command is about to start,
 * so that it keeps what it made for this run. */
void report_started(int sync_fd)
{
	if (send(sync_fd, "s", 1, MSG_NOSIGNAL) != 1)
		die("send to the tool");
}

/*
 * --layer DIR keeps the writable layer on the host: the one thing this
 * stage creates there.  main() makes and locks it before the container
 * starts (make_layer() in common/root.c), and at the end removes what it
 * made and the container never used (finish_layer()): all of it if the
 * command never started, or else an upper layer left empty.  Did the child
 * report that its command started?  Its word stays in the socket after it
 * exits.
 */
int command_started(int sync_fd)
{
	char word;

	return recv(sync_fd, &word, 1, MSG_DONTWAIT) == 1;
}
