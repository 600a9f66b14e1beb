/*
 * mount.c - the old kernel's way of making a mount tree read-only.
 *
 * Stage 4 makes a --volume read-only with one mount_setattr(2) call and
 * AT_RECURSIVE (Linux 5.12).  Before that, a read-only bind remount applies
 * to one mount only, so every mount below the volume needs its own: this
 * finds them in /proc/self/mountinfo.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

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
