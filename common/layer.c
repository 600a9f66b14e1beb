/*
 * layer.c - the default writable layer of stages 4 and 5: a directory on
 * disk, made for one run and removed at its end.
 *
 * What the container writes goes to the overlay's upper layer.  On a tmpfs
 * (--tmpfs-layer) those pages are memory: stage 5 charges them to the
 * container, and it cannot reclaim them, so a 100 MB file under --memory
 * 64m is killed by the OOM killer.  On disk they are page cache, which the
 * kernel writes back and reclaims as for any file.
 *
 * Each run gets STATE/layers/ctr-PID, PID being the tool's, locked with
 * flock(2) for as long as the tool runs.  STATE
 * belongs to the caller, and no one else may write in it: as root
 * /var/lib/containers-from-scratch; without root $XDG_STATE_HOME (or
 * ~/.local/state)/containers-from-scratch, or, when the home directory is
 * not the caller's (setpriv, a system user), /var/tmp/containers-from-
 * scratch-UID.  No path is followed through a symlink.  A tool killed with
 * SIGKILL cannot remove its layer: the next run does, when the PID is gone
 * and the lock free, as stage 5 does with cgroups.
 *
 * Removal never follows a symlink either: the tree was written by the
 * container, which may have put a link to /etc in it.
 *
 * See: overlayfs (Documentation/filesystems/overlayfs.rst), flock(2),
 *      unlinkat(2), the XDG Base Directory Specification (XDG_STATE_HOME)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define STATE_DIR "containers-from-scratch"
/* Stale layers looked at on each start: a start costs the same however
 * many containers run. */
#define MAX_CANDIDATES 8

/* Open name in parent as a directory of the caller's that no one else may
 * write in, making it if missing; -1 if it is not one. */
static int private_dir(int parent, const char *name)
{
	struct stat st;
	int fd;

	if (mkdirat(parent, name, 0700) == -1 && errno != EEXIST)
		return -1;
	fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* The user's state directory, below a home directory of the user's own:
 * -1 if it is not safe, NO_HOME if there is no such home directory. */
#define NO_HOME (-2)
static int user_state_dir(char *path, size_t size)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	const char *parts[] = {".local", "state", STATE_DIR};
	struct stat st;
	int fd, next;
	size_t i = 0;

	if (xdg != NULL && xdg[0] == '/') {
		make_path(path, size, "%s", xdg);
		i = 2;
	} else if (home != NULL && home[0] == '/') {
		make_path(path, size, "%s", home);
	} else {
		return NO_HOME;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1 || st.st_uid != geteuid()) {
		if (fd != -1)
			close(fd);
		return NO_HOME;
	}
	for (; i < sizeof(parts) / sizeof(parts[0]); i++) {
		make_path(path + strlen(path), size - strlen(path), "/%s",
			  parts[i]);
		next = private_dir(fd, parts[i]);
		close(fd);
		if (next == -1)
			return -1;
		fd = next;
	}
	return fd;
}

/* STATE, open, and its path. */
static int layer_state_dir(char *path, size_t size)
{
	char name[64];
	int parent, fd;

	if (!rootless()) {
		make_path(path, size, "/var/lib/%s", STATE_DIR);
		/* A minimal system (an initramfs, a container) may have no
		 * /var/lib yet: make it, as the FHS has it. */
		if ((mkdir("/var", 0755) == -1 && errno != EEXIST) ||
		    (mkdir("/var/lib", 0755) == -1 && errno != EEXIST))
			die("mkdir /var/lib");
		parent = open("/var/lib", O_PATH | O_DIRECTORY | O_CLOEXEC);
		fd = parent == -1 ? -1 : private_dir(parent, STATE_DIR);
	} else {
		fd = user_state_dir(path, size);
		if (fd >= 0)
			return fd;
		if (fd == -1)
			die_hint(
				"it must be a directory of the caller's that no one else may write in, not a symlink; or use --tmpfs-layer",
				"state directory %s", path);
		/* /var/tmp is on disk, and its sticky bit keeps others from
		 * renaming or removing what we own there. */
		snprintf(name, sizeof(name), "%s-%u", STATE_DIR,
			 (unsigned)geteuid());
		make_path(path, size, "/var/tmp/%s", name);
		parent = open("/var/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
		fd = parent == -1 ? -1 : private_dir(parent, name);
	}
	if (fd == -1)
		die_hint(
			"it must be a directory of the caller's that no one else may write in, not a symlink; or use --tmpfs-layer",
			"state directory %s", path);
	close(parent);
	return fd;
}

/* Remove everything in dir (an fd, which this closes), never following a
 * symlink.  A directory of ours without write permission (overlayfs makes
 * work/work mode 000) gets it first. */
static void remove_contents(int dir)
{
	struct dirent *e;
	DIR *d = fdopendir(dir);
	int sub;

	if (d == NULL) {
		close(dir);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dir, e->d_name, 0) == 0 || errno == ENOENT)
			continue;
		fchmodat(dir, e->d_name, 0700, AT_SYMLINK_NOFOLLOW);
		sub = openat(dir, e->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub == -1)
			continue;
		remove_contents(sub);
		unlinkat(dir, e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

/* Remove base/name and everything in it. */
static int remove_tree(int base, const char *name)
{
	int dir = openat(base, name,
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (dir == -1)
		return errno == ENOENT ? 0 : -1;
	remove_contents(dir);
	return unlinkat(base, name, AT_REMOVEDIR);
}

/* Remove base/name if no tool holds its lock. */
static void prune_if_stale(int base, const char *path, const char *name)
{
	int fd = openat(base, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd == -1)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 && remove_tree(base, name) == 0)
		trace("removed stale layer %s/%s: its tool is gone", path,
		      name);
	close(fd);
}

/* The layers of tools that were killed: their PID gone and lock free.  At
 * most MAX_CANDIDATES are tried, from a different place in the list each
 * time, so that one that cannot be removed never hides the others. */
static void prune_stale_layers(int base, const char *path)
{
	char **names = NULL;
	struct dirent *e;
	size_t n = 0, start;
	int fd;
	DIR *d;

	fd = dup(base);
	d = fd == -1 ? NULL : fdopendir(fd);
	if (d == NULL)
		die("opendir %s", path);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || named_owner_alive(e->d_name))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		if (names == NULL || (names[n++] = strdup(e->d_name)) == NULL)
			die("malloc");
	}
	closedir(d);
	start = n ? (size_t)getpid() % n : 0;
	for (size_t k = 0; k < n; k++) {
		if (k < MAX_CANDIDATES)
			prune_if_stale(base, path, names[(start + k) % n]);
		free(names[(start + k) % n]);
	}
	free(names);
}

/* The layer die() removes: a failed setup leaves nothing behind. */
static struct scratch_layer *made_scratch;

static void remove_made_scratch(void)
{
	remove_scratch_layer(made_scratch);
}

void make_scratch_layer(struct scratch_layer *s, const struct options *opts)
{
	char path[PATH_MAX], name[32];
	struct statfs fs;
	struct utsname u;
	int state, major, minor;

	s->dir[0] = '\0';
	s->lock = -1;
	s->userns = -1;
	s->options = "";
	if (opts->layer || opts->tmpfs_layer)
		return;
	state = layer_state_dir(path, sizeof(path));
	/* overlayfs cannot write its upper layer on another overlay (the
	 * root of a container, in CI say): the tmpfs, then. */
	if (fstatfs(state, &fs) == 0 && fs.f_type == OVERLAYFS_SUPER_MAGIC) {
		trace("writable layer on a tmpfs: the state directory %s is on an overlay",
		      path);
		close(state);
		return;
	}
	s->base = private_dir(state, "layers");
	if (s->base == -1)
		die("state directory %s/layers", path);
	close(state);
	make_path(s->base_path, sizeof(s->base_path), "%s/layers", path);
	prune_stale_layers(s->base, s->base_path);
	snprintf(name, sizeof(name), "ctr-%d", getpid());
	make_path(s->dir, sizeof(s->dir), "%s/%s", s->base_path, name);
	/* One left by an earlier tool of our PID is stale: we are alive. */
	prune_if_stale(s->base, s->base_path, name);
	if (mkdirat(s->base, name, 0700) == -1)
		die("mkdir %s", s->dir);
	made_scratch = s;
	at_die(remove_made_scratch);
	s->lock = openat(s->base, name,
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->lock == -1 || flock(s->lock, LOCK_EX | LOCK_NB) == -1)
		die("flock %s", s->dir);
	/* The upper layer's root is the container's "/": 0755 whatever the
	 * umask. */
	if (mkdirat(s->lock, "upper", 0755) == -1 ||
	    fchmodat(s->lock, "upper", 0755, 0) == -1 ||
	    mkdirat(s->lock, "work", 0700) == -1)
		die("mkdir %s/upper and work", s->dir);
	/* Unmounting an overlay syncs its upper layer's whole filesystem,
	 * the host's disk, unless it is volatile (Linux 5.10): a layer that
	 * is removed at exit need not survive a crash. */
	if (uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
	    (major > 5 || (major == 5 && minor >= 10)))
		s->options = ",volatile";
	trace("writable layer in %s, removed at exit", s->dir);
}

void keep_layer_owner(struct scratch_layer *s, pid_t pid)
{
	char path[64];

	if (s->dir[0] == '\0' || !rootless())
		return;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	s->userns = open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * Without root, and with subordinate ids, the container may have left
 * files of ids that are not the caller's (apt's _apt, a chown), in
 * directories the caller may not write.  Root of the container's user
 * namespace may remove them, and the caller, its owner, may join it: a
 * child process does the removal there.
 */
static int remove_as_owner(struct scratch_layer *s, const char *name)
{
	int wstatus;
	pid_t pid;

	if (s->userns == -1)
		return remove_tree(s->base, name);
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid == 0) {
		if (setns(s->userns, CLONE_NEWUSER) == -1)
			_exit(1);
		_exit(remove_tree(s->base, name) == 0 ? 0 : 1);
	}
	if (waitpid(pid, &wstatus, 0) == -1 || !WIFEXITED(wstatus) ||
	    WEXITSTATUS(wstatus) != 0)
		return remove_tree(s->base, name);
	return 0;
}

void remove_scratch_layer(struct scratch_layer *s)
{
	const char *name;

	if (s->dir[0] == '\0')
		return;
	name = strrchr(s->dir, '/') + 1;
	if (remove_as_owner(s, name) == -1)
		warn_msg("remove the writable layer %s: %s", s->dir,
			 strerror(errno));
	if (s->userns != -1)
		close(s->userns);
	close(s->lock);
	close(s->base);
	s->dir[0] = '\0';
}
