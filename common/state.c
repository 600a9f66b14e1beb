/*
 * state.c - the toolkit's own directory on the host, for its lock files.
 *
 * The state directory is
 *   /run/containers-from-scratch                  for root (of the host),
 *   $XDG_RUNTIME_DIR/containers-from-scratch      for anyone else, or, where
 *                                                 that is not the user's
 *   /run/user/UID/containers-from-scratch, or
 *   /tmp/containers-from-scratch-UID
 * always mode 0700 and owned by the user who runs the tool.  It holds lock
 * files only (stage 5's cgroup locks, and each --layer's lock with its
 * bookkeeping), each removed by the run that made it, and the directory
 * goes when it is empty.
 *
 * Why a directory of our own: flock(2) works on any descriptor open for
 * reading, so a lock on a world-readable file or directory (/sys/fs/cgroup,
 * a cgroup, a --layer directory) is a lock that any user can take, and
 * hold, to stall or refuse someone else's run.  A lock file here can be
 * opened only by its owner.  A directory that is a symlink, or not owned by
 * us, or open to others, is refused, never used or fixed.
 *
 * A lock file is removed while it is held, and another run may have opened
 * it just before: that run then holds a lock on a file that no longer has a
 * name, while a third one makes a new file of that name.  So take_lock()
 * checks, once it holds the lock, that the name still leads to its file.
 *
 * See: flock(2), openat(2) (O_NOFOLLOW), unlinkat(2)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define STATE_NAME "containers-from-scratch"
/* How often a lock held by another run of the tool is tried again. */
#define LOCK_TICK_MS 10

/* Open name in the directory base as the state directory, making it first
 * if create is set; refuse one that is not ours alone. */
static int open_owned_dir(const char *base, const char *name, int create)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	make_path(path, sizeof(path), "%s/%s", base, name);
	if (create && mkdir(path, 0700) == -1 && errno != EEXIST)
		die("mkdir %s", path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && !create && (errno == ENOENT || errno == EACCES))
		return -1; /* none, or another user's: nothing of ours there */
	if (fd == -1 && errno == ELOOP)
		diex("%s is a symlink: the tool's state directory must be a directory of its own; remove it",
		     path);
	if (fd == -1)
		die("open %s", path);
	if (fstat(fd, &st) == -1)
		die("stat %s", path);
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		diex("%s is not the tool's: it must belong to uid %u with mode 0700, and it belongs to uid %u with mode %04o; remove it",
		     path, (unsigned)geteuid(), (unsigned)st.st_uid,
		     (unsigned)(st.st_mode & 07777));
	return fd;
}

/* Is dir a directory of ours alone, as a runtime directory must be? */
static int ours_alone(const char *dir)
{
	struct stat st;

	return dir != NULL && dir[0] == '/' && lstat(dir, &st) == 0 &&
	       S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       (st.st_mode & 077) == 0;
}

/* Where the state directory lives, and its name there. */
static void state_place(char *base, size_t size, char *name, size_t nsize)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	snprintf(name, nsize, "%s", STATE_NAME);
	/* Root in a user namespace of its own (unshare --map-root-user) is
	 * not the host's root, and cannot write to /run. */
	if (geteuid() == 0 && access("/run", W_OK) == 0) {
		snprintf(base, size, "/run");
		return;
	}
	/* sudo -u and setpriv keep the caller's XDG_RUNTIME_DIR: use it only
	 * if it is ours. */
	if (ours_alone(xdg) && strlen(xdg) < size) {
		snprintf(base, size, "%s", xdg);
		return;
	}
	snprintf(base, size, "/run/user/%u", (unsigned)geteuid());
	if (ours_alone(base))
		return;
	snprintf(base, size, "/tmp");
	snprintf(name, nsize, "%s-%u", STATE_NAME, (unsigned)geteuid());
}

int state_dir(int create)
{
	char base[PATH_MAX], name[NAME_MAX + 1];

	state_place(base, sizeof(base), name, sizeof(name));
	return open_owned_dir(base, name, create);
}

void remove_state_dir(void)
{
	char base[PATH_MAX], name[NAME_MAX + 1], path[PATH_MAX + NAME_MAX + 2];

	state_place(base, sizeof(base), name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", base, name);
	rmdir(path); /* ENOTEMPTY: another run's locks are there */
}

/* Does name in dir still lead to the file that fd is open on? */
static int still_named(int dir, const char *name, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 &&
	       fstatat(dir, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int take_lock(const char *name, int wait_ms, int create)
{
	const struct timespec tick = {0, LOCK_TICK_MS * 1000 * 1000};
	int dir, fd, waited = 0;

	for (;;) {
		dir = state_dir(create);
		if (dir == -1)
			return -1; /* no state directory, so no such lock */
		fd = openat(dir, name,
			    O_RDWR | O_NOFOLLOW | O_CLOEXEC |
				    (create ? O_CREAT : 0),
			    0600);
		if (fd == -1 && errno == ENOENT && create) {
			/* Another run removed the empty directory just now. */
			close(dir);
			continue;
		}
		if (fd == -1 && errno == ENOENT) {
			close(dir);
			return -1;
		}
		if (fd == -1)
			die("open lock %s", name);
		while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			if (errno != EWOULDBLOCK)
				die("flock %s", name);
			if (waited >= wait_ms) {
				close(fd);
				close(dir);
				errno = EWOULDBLOCK;
				return -2;
			}
			nanosleep(&tick, NULL);
			waited += LOCK_TICK_MS;
		}
		if (still_named(dir, name, fd)) {
			close(dir);
			return fd;
		}
		close(fd); /* removed by its last holder: take the new one */
		close(dir);
		if (!create)
			return -1;
	}
}

void drop_lock(const char *name, int fd)
{
	int dir = state_dir(0);

	if (dir != -1) {
		unlinkat(dir, name, 0);
		close(dir);
	}
	close(fd);
	remove_state_dir();
}
