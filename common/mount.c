/*
 * mount.c - making a mount tree read-only, for stage 4's --volume ...:ro
 * and, without root, its /sys.
 *
 * One mount_setattr(2) call with AT_RECURSIVE does it (Linux 5.12).  Before
 * that, a read-only bind remount applies to one mount only, so every mount
 * below the volume needs its own: this finds them in /proc/self/mountinfo.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common.h"

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					(s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

void remount_tree_read_only(const char *top)
{
	char line[PATH_BUF], point[PATH_BUF];
	unsigned long flags;
	struct statvfs st;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		die("open /proc/self/mountinfo");
	while (fgets(line, sizeof(line), f) != NULL) {
		/* ID PARENT MAJOR:MINOR ROOT MOUNT-POINT ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
			continue;
		unescape_octal(point);
		if (!path_is_under(point, top))
			continue;
		/* A bind remount sets every per-mount flag: keep noexec. */
		flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;
		if (statvfs(point, &st) == 0 && (st.f_flag & ST_NOEXEC))
			flags |= MS_NOEXEC;
		if (mount(NULL, point, NULL, flags, NULL) == -1)
			die("remount %s read-only", point);
	}
	fclose(f);
}

/*
 * :ro must hold for the whole volume, including any mount below the host
 * directory (a USB stick under /media, say): MS_BIND | MS_REC copies them
 * all, but a read-only remount changes one mount only.  mount_setattr(2)
 * with AT_RECURSIVE changes the whole tree at once.
 */
void make_read_only(int dir)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY |
					      MOUNT_ATTR_NOSUID |
					      MOUNT_ATTR_NODEV};
	char where[PATH_MAX], link[32];
	ssize_t len;

	if (!fallback_forced("mount_setattr") &&
	    mount_setattr(dir, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
			  sizeof(attr)) == 0)
		return;
	if (errno != ENOSYS && !fallback_forced("mount_setattr"))
		die("mount_setattr read-only");
	/* Before Linux 5.12: each mount of the tree, one by one. */
	len = readlink(fd_path(dir, link, sizeof(link)), where,
		       sizeof(where) - 1);
	if (len == -1)
		die("readlink %s", link);
	where[len] = '\0';
	trace("no mount_setattr: remounting each mount under %s", where);
	remount_tree_read_only(where);
}

/*
 * Bind the host's directory host on path in the new root (the working
 * directory), with every mount below it, read-only.  The mount point is
 * opened again after the bind, to get the new mount and not the directory
 * under it.
 */
void bind_read_only(const char *host, const char *path)
{
	char source[32], target[32];
	int src, dir;

	src = open(host, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (src == -1)
		die("open %s", host);
	dir = open_in_root(path);
	if (mount(fd_path(src, source, sizeof(source)),
		  fd_path(dir, target, sizeof(target)), NULL, MS_BIND | MS_REC,
		  NULL) == -1)
		die("bind-mount %s on %s", host, path);
	close(dir);
	close(src);
	dir = open_in_root(path);
	make_read_only(dir);
	close(dir);
}
