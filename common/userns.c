/*
 * userns.c - rootless mode: a user namespace in which the caller is root.
 *
 * Without root, no namespace can be made, except one: a user namespace
 * (CLONE_NEWUSER).  Its first process has every capability inside it, and
 * the other namespaces made in the same clone(2) belong to it, so it may
 * set their hostname, mount in them, and so on.  Outside it has none: its
 * processes run as the caller's own uid, and a device, a /proc/sys file or
 * a cgroup of the host is still checked against that uid.
 *
 * Who is who inside is told by /proc/PID/uid_map and gid_map, each written
 * once, by the parent, after the clone: "0 UID 1" means "uid 0 inside is
 * UID outside, for 1 id".  An unprivileged parent may map only its own
 * uid and gid, and must first write "deny" to /proc/PID/setgroups: or else
 * the child, now root inside, could drop a supplementary group that the
 * host uses to deny it something ("everyone but group X may read").
 *
 * Every stage calls user_namespace_flag() in its clone and
 * map_user_to_root() between the child's acknowledgement and its
 * go-ahead; as root both do nothing, and the stages run as before.
 *
 * See: user_namespaces(7), clone(2) (CLONE_NEWUSER)
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common.h"

/* Decided once, in the tool, before the clone: inside the new user
 * namespace the child is root, and must still know it is rootless. */
int rootless(void)
{
	static int answer = -1;

	if (answer == -1)
		answer = geteuid() != 0;
	return answer;
}

int user_namespace_flag(void)
{
	if (!rootless())
		return 0;
	trace("not root: CLONE_NEWUSER too, a user namespace that the other namespaces belong to");
	return CLONE_NEWUSER;
}

void map_user_to_root(pid_t pid)
{
	char path[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (!rootless())
		return;
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	if (write_file(path, "0 %u 1", uid) == -1)
		die("write '0 %u 1' to %s", uid, path);
	/* Before gid_map, or the kernel refuses it (EPERM). */
	snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
	if (write_file(path, "deny") == -1)
		die("write deny to %s", path);
	snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
	if (write_file(path, "0 %u 1", gid) == -1)
		die("write '0 %u 1' to %s", gid, path);
	trace("user namespace: root inside is uid %u and gid %u outside", uid,
	      gid);
}

const char *clone_hint(void)
{
	if (!rootless())
		return NULL;
	if (errno == ENOSPC)
		return "user.max_user_namespaces is reached, or 0: sysctl -w user.max_user_namespaces=15000 (make doctor)";
	if (errno == EPERM || errno == EACCES)
		return "unprivileged user namespaces are disabled here: see make doctor, or run as root";
	return NULL;
}

/*
 * Without root, mknod(2) is refused, even to root of a user namespace: a
 * device node made there could reach the host's hardware.  The host's own
 * nodes are bound in instead, each onto an empty file in our tmpfs, so that
 * /dev/null inside is the host's /dev/null, with the host's permissions.
 * The source is the host's /dev: we have not pivoted yet.
 */
void bind_host_device(int dev, const char *name)
{
	char host[32], path[32];
	int fd;

	fd = openat(dev, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd == -1)
		die("create /dev/%s", name);
	snprintf(host, sizeof(host), "/dev/%s", name);
	if (mount(host, fd_path(fd, path, sizeof(path)), NULL, MS_BIND, NULL) ==
	    -1)
		die("bind-mount the host's %s on /dev/%s", host, name);
	close(fd);
}
