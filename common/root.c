/*
 * root.c - plumbing for building a new root: stages 4 and 5.
 *
 * The lesson of stage 4 (the overlay, the mounts, pivot_root) stays in its
 * main.c.  What is here keeps that lesson safe, and is the same in both
 * stages: opening a mount point inside the new root without following the
 * image's symlinks out of it, and the bookkeeping of a --layer directory,
 * which the tool makes on the host and removes again if the run fails.
 *
 * See: openat2(2) (RESOLVE_IN_ROOT), flock(2), common/state.c
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

const char *fd_path(int fd, char *buf, size_t size)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
	return buf;
}

/*
 * Every path here is the image's to control, so it is never followed as a
 * plain path: the stage has not pivoted yet, and an absolute symlink in the
 * image (/data -> /etc) would lead to the host's /etc.  openat2(2) with
 * RESOLVE_IN_ROOT resolves every step as if the new root, the working
 * directory, were already "/".  The mount point itself must be a real
 * directory: a symlink there would move the mount somewhere the image
 * chose.  A directory is made only in the container's own layer, never in
 * a volume, which is the host's.
 */
int open_in_root(const char *path)
{
	struct open_how how = {.resolve = RESOLVE_IN_ROOT};
	char prefix[PATH_MAX] = "";
	size_t used = 0, len;
	int root, dir = -1, parent, last;
	struct stat st, root_st;

	root = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root == -1 || fstat(root, &root_st) == -1)
		die("open the new root");
	for (const char *c = path;; c += len) {
		c += strspn(c, "/");
		if (*c == '\0')
			break;
		len = strcspn(c, "/");
		last = c[len + strspn(c + len, "/")] == '\0';
		used += (size_t)snprintf(prefix + used, sizeof(prefix) - used,
					 "/%.*s", (int)len, c);
		parent = dir == -1 ? root : dir;
		how.flags =
			O_PATH | O_CLOEXEC | (last ? O_NOFOLLOW : O_DIRECTORY);
		dir = (int)syscall(SYS_openat2, root, prefix, &how,
				   sizeof(how));
		if (dir == -1 && errno == ENOENT) {
			if (fstat(parent, &st) == -1 ||
			    st.st_dev != root_st.st_dev)
				diex("cannot make %s in the container: its parent is a volume, which belongs to the host",
				     prefix);
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
	if (dir == -1 || fstat(dir, &st) == -1)
		die("open %s in the container", path);
	if (S_ISLNK(st.st_mode))
		diex("%s in the image is a symlink: a mount point must be a directory",
		     path);
	if (!S_ISDIR(st.st_mode))
		diex("%s in the image is not a directory: a mount point must be one",
		     path);
	close(root);
	return dir;
}

/*
 * The tool makes DIR, DIR/upper and DIR/work before the container starts.
 * What it made and the container never used must not outlive the run,
 * whatever ends it; what the container used is the user's data and stays.
 * So the lock on DIR, a file in the tool's state directory (common/state.c:
 * only its owner can open it, unlike DIR itself), also holds the
 * bookkeeping: which of the three were new, and DIR's inode.  It is
 * written before the first mkdir.  The run removes the new ones at its
 * end: all of them with what the setup put there if the command never
 * started, and otherwise only if the container left DIR/upper empty.  A
 * tool killed with SIGKILL does neither: the next run of stage 4 or 5
 * finds its lock free, removes what was new and left empty, and the lock
 * file.  The lock also keeps two containers off one DIR: two overlays on
 * one upper layer corrupt each other, and overlayfs only warns.
 */
#define LAYER_WAIT_MS 500 /* a run that is finishing a dead run's layer */

/* What die() removes: the layer this process made, if the run ends before
 * main() decides. */
static struct layer *made_layer;

static void remove_made_layer(void)
{
	if (made_layer != NULL)
		finish_layer(made_layer, 1);
}

/* "made0 made1 made2 dev ino DIR": what the run made, and DIR's inode. */
static void write_record(const struct layer *layer, const struct stat *st)
{
	char record[PATH_MAX + 128];
	int len;

	len = snprintf(record, sizeof(record), "%d %d %d %llx %llx %s\n",
		       layer->made[0], layer->made[1], layer->made[2],
		       st ? (unsigned long long)st->st_dev : 0ULL,
		       st ? (unsigned long long)st->st_ino : 0ULL, layer->dir);
	if (ftruncate(layer->lock, 0) == -1 ||
	    pwrite(layer->lock, record, (size_t)len, 0) != len)
		die("write the lock of --layer %s", layer->dir);
}

/* Remove name below parent and everything in it, without following a
 * symlink: only for what the tool's own setup put there. */
static void remove_tree(int parent, const char *name)
{
	struct dirent *e;
	DIR *d;
	int fd;

	fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		unlinkat(parent, name, 0);
		return;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			remove_tree(fd, e->d_name);
	closedir(d);
	unlinkat(parent, name, AT_REMOVEDIR);
}

/* Remove the parts of the layer at path that were new (made[]) and went
 * unused: everything new if the command never started, otherwise only an
 * upper layer left empty, and the rest with it.  dev and ino, if known,
 * must still be DIR's. */
static void remove_unused(const char *path, const int made[3], int started,
			  unsigned long long dev, unsigned long long ino)
{
	struct stat st;
	int dir, unused = 1;

	dir = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir == -1)
		return;
	if (fstat(dir, &st) == -1 ||
	    (ino != 0 && (st.st_dev != dev || st.st_ino != ino))) {
		close(dir); /* not the directory the run made */
		return;
	}
	if (made[1] && !started)
		remove_tree(dir, "upper");
	else if (made[1] && unlinkat(dir, "upper", AT_REMOVEDIR) == -1 &&
		 errno != ENOENT)
		unused = 0; /* the container wrote there: the user's data */
	else if (!made[1] && started)
		unused = 0; /* an upper layer of before: the user's */
	if (made[2] && unused)
		remove_tree(dir, "work"); /* overlayfs's own: work/work */
	close(dir);
	if (made[0] && unused && rmdir(path) == 0)
		trace("removed --layer %s: the container never used it", path);
}

/* A lock file free to take is a dead run's: finish its layer, as cautious
 * as a run that does not know whether its command started. */
static void finish_dead_run(int lock)
{
	char record[PATH_MAX + 128], *path;
	unsigned long long dev, ino;
	int made[3], len, used = 0;
	ssize_t got;

	got = pread(lock, record, sizeof(record) - 1, 0);
	if (got <= 0)
		return;
	record[got] = '\0';
	record[strcspn(record, "\n")] = '\0';
	if (sscanf(record, "%d %d %d %llx %llx %n", &made[0], &made[1],
		   &made[2], &dev, &ino, &used) != 5 ||
	    used == 0)
		return;
	path = record + used;
	len = (int)strlen(path);
	if (len == 0 || path[0] != '/')
		return;
	remove_unused(path, made, 1, dev, ino);
}

/* Every run of stage 4 or 5 looks for the layers of runs that were killed. */
static void sweep_dead_runs(void)
{
	struct dirent *e;
	int dir, lock;
	DIR *d;

	dir = state_dir(0);
	if (dir == -1)
		return;
	d = fdopendir(dir);
	if (d == NULL)
		die("opendir the state directory");
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "layer-", 6) != 0)
			continue;
		lock = take_lock(e->d_name, 0, 0);
		if (lock < 0)
			continue; /* in use, or gone */
		finish_dead_run(lock);
		drop_lock(e->d_name, lock);
	}
	closedir(d);
}

/* FNV-1a: a short name for DIR's lock.  DIR is the canonical path that
 * parse_args() made, so one directory has one name. */
static unsigned long long hash(const char *s)
{
	unsigned long long h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

void make_layer(struct layer *layer, const char *dir)
{
	char paths[3][PATH_MAX];
	struct stat st;

	layer->dir = dir;
	layer->lock = -1;
	for (int i = 0; i < 3; i++)
		layer->made[i] = 0;
	sweep_dead_runs();
	if (dir == NULL)
		return;
	snprintf(layer->lock_name, sizeof(layer->lock_name), "layer-%016llx",
		 hash(dir));
	layer->lock = take_lock(layer->lock_name, LAYER_WAIT_MS, 1);
	if (layer->lock == -2)
		diex("--layer %s is in use by another container", dir);
	finish_dead_run(layer->lock); /* one of ours that died on DIR */
	made_layer = layer;
	at_die(remove_made_layer);
	make_path(paths[0], sizeof(paths[0]), "%s", dir);
	make_path(paths[1], sizeof(paths[1]), "%s/upper", dir);
	make_path(paths[2], sizeof(paths[2]), "%s/work", dir);
	/* What is missing now is what this run makes: said before it is. */
	for (int i = 0; i < 3; i++)
		layer->made[i] = lstat(paths[i], &st) == -1 && errno == ENOENT;
	write_record(layer, NULL);
	for (int i = 0; i < 3; i++) {
		if (mkdir(paths[i], 0755) == -1 && errno != EEXIST)
			die("mkdir %s", paths[i]);
		if (i == 0) {
			if (stat(dir, &st) == -1)
				die("stat --layer %s", dir);
			write_record(layer, &st);
		}
	}
}

void finish_layer(struct layer *layer, int started)
{
	struct stat st;

	made_layer = NULL;
	if (layer->dir == NULL || layer->lock < 0)
		return;
	if (stat(layer->dir, &st) == 0)
		remove_unused(layer->dir, layer->made, started,
			      (unsigned long long)st.st_dev,
			      (unsigned long long)st.st_ino);
	drop_lock(layer->lock_name, layer->lock);
	layer->lock = -1;
}
