/*
 * root.c - plumbing for building a new root: stages 4 and 5.
 *
 * The lesson of stage 4 (the overlay, the mounts, pivot_root) stays in its
 * main.c.  What is here keeps that lesson safe, and is the same in both
 * stages: opening a mount point inside the new root without following the
 * image's symlinks out of it, and the bookkeeping of a --layer directory,
 * which the tool makes on the host and removes again if the run fails.
 *
 * See: openat2(2) (RESOLVE_IN_ROOT), flock(2)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
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
 * The tool makes DIR, DIR/upper and DIR/work before the container starts
 * and remembers which of them are new, so that a run that fails before its
 * command starts can remove them.  It also locks DIR for as long as it
 * runs: two overlays on one upper layer corrupt each other, and overlayfs
 * only warns.
 */
/* What die() removes: the layer this process made, if the run ends before
 * main() decides. */
static const struct layer *made_layer;

static void remove_made_layer(void)
{
	if (made_layer != NULL)
		remove_new_layer(made_layer);
}

void make_layer(struct layer *layer, const char *dir)
{
	char paths[3][PATH_MAX];

	layer->dir = dir;
	layer->lock = -1;
	for (int i = 0; i < 3; i++)
		layer->made[i] = 0;
	if (dir == NULL)
		return;
	made_layer = layer;
	at_die(remove_made_layer);
	make_path(paths[0], sizeof(paths[0]), "%s", dir);
	make_path(paths[1], sizeof(paths[1]), "%s/upper", dir);
	make_path(paths[2], sizeof(paths[2]), "%s/work", dir);
	for (int i = 0; i < 3; i++) {
		layer->made[i] = mkdir(paths[i], 0755) == 0;
		if (!layer->made[i] && errno != EEXIST)
			die("mkdir %s", paths[i]);
		if (i == 0) {
			layer->lock =
				open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (layer->lock == -1)
				die("open --layer %s", dir);
			if (flock(layer->lock, LOCK_EX | LOCK_NB) == -1)
				diex("--layer %s is in use by another container",
				     dir);
		}
	}
}

/* In reverse order.  overlayfs made work/work inside a work directory. */
void remove_new_layer(const struct layer *layer)
{
	char path[PATH_MAX];

	if (layer->dir == NULL)
		return;
	if (layer->made[2]) {
		make_path(path, sizeof(path), "%s/work/work", layer->dir);
		rmdir(path);
		make_path(path, sizeof(path), "%s/work", layer->dir);
		rmdir(path);
	}
	if (layer->made[1]) {
		make_path(path, sizeof(path), "%s/upper", layer->dir);
		rmdir(path);
	}
	if (layer->made[0])
		rmdir(layer->dir);
}
