/*
 * grade-readonly.c - the last step of make grade's sandbox: every mount of
 * its mount namespace becomes read-only, but the paths given, which stay
 * writable (the sandbox's own tmpfs mounts).  A submission then cannot
 * write the checkout, the tests or the host, even where its user owns them.
 *
 * mount_setattr(2) with AT_RECURSIVE does the whole tree in one call, and
 * keeps each mount's other flags (nosuid, nodev), which a user namespace
 * may not clear.  It is compiled by scripts/grade.sh, not by make: the
 * grader builds it before the sandbox exists.
 *
 * Usage: grade-readonly [WRITABLE...]
 * See: mount_setattr(2), mount_namespaces(7)
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static int set_attr(const char *path, unsigned int flags,
		    struct mount_attr *attr)
{
	return (int)syscall(SYS_mount_setattr, AT_FDCWD, path, flags, attr,
			    sizeof(*attr));
}

int main(int argc, char **argv)
{
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
	struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY};

	if (set_attr("/", AT_RECURSIVE, &ro) == -1) {
		perror("grade-readonly: mount_setattr / read-only");
		return 1;
	}
	for (int i = 1; i < argc; i++)
		if (set_attr(argv[i], 0, &rw) == -1) {
			fprintf(stderr,
				"grade-readonly: mount_setattr %s writable: ",
				argv[i]);
			perror(NULL);
			return 1;
		}
	return 0;
}
