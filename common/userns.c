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
 * Where the administrator gave the caller subordinate ids (a line for the
 * user in /etc/subuid and /etc/subgid), the full range is mapped too, as
 * rootless podman does: root inside is the caller, and ids 1 to N inside
 * are the range, so files with several owners keep them apart.  Only the
 * setuid helpers newuidmap(1) and newgidmap(1), from shadow's uidmap
 * package, may write such a map: they check it against those two files.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

/* How many ids from 0 up FILE (/proc/self/uid_map or gid_map) maps, in
 * one run: 4294967295 in the host's own user namespace. */
static unsigned long mapped_from_zero(const char *file)
{
	unsigned long inside, outside, count, end = 0;
	int grew = 1;

	while (grew) {
		FILE *f = fopen(file, "re");

		if (f == NULL)
			return 0;
		grew = 0;
		while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
			if (inside == end && count > 0) {
				end += count;
				grew = 1;
			}
		fclose(f);
	}
	return end;
}

/* Decided once, in the tool, before the clone: inside the new user
 * namespace the child is root, and must still know it is rootless.  Root
 * of a user namespace that is not the host's (a grading sandbox, a rootless
 * podman container) is rootless too: mknod(2) is refused there as well. */
int rootless(void)
{
	static int answer = -1;

	if (answer == -1)
		answer = geteuid() != 0 ||
			 mapped_from_zero("/proc/self/uid_map") != 4294967295UL;
	return answer;
}

int user_namespace_flag(void)
{
	if (!rootless())
		return 0;
	trace("not root: CLONE_NEWUSER too, a user namespace that the other namespaces belong to");
	return CLONE_NEWUSER;
}

/* The caller's user name, from /etc/passwd: /etc/subuid names users.  Read
 * by hand, not with getpwuid(3), which a static build cannot link. */
static int user_name(uid_t uid, char *name, size_t size)
{
	char line[512], *end, *colon;
	FILE *f = fopen("/etc/passwd", "re");
	int found = 0;
	size_t len;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		end = strchr(line, ':'); /* name:password:uid:... */
		colon = end ? strchr(end + 1, ':') : NULL;
		if (colon == NULL || strtoul(colon + 1, NULL, 10) != uid)
			continue;
		len = (size_t)(end - line);
		if (len < size) {
			memcpy(name, line, len);
			name[len] = '\0';
			found = 1;
		}
	}
	fclose(f);
	return found;
}

/* The caller's range in /etc/subuid or /etc/subgid: the first line
 * "USER:START:COUNT" whose USER is the name or the uid (both files name
 * users, not groups, as newuidmap and newgidmap read them). */
static int subordinate_range(const char *file, const char *name,
			     unsigned int id, unsigned long *start,
			     unsigned long *count)
{
	char line[512], who[256], number[24];
	FILE *f = fopen(file, "re");
	int found = 0;

	if (f == NULL)
		return 0;
	snprintf(number, sizeof(number), "%u", id);
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%255[^:]:%lu:%lu", who, start, count) ==
				3 &&
			*count > 0 &&
			(strcmp(who, name) == 0 || strcmp(who, number) == 0);
	fclose(f);
	return found;
}

/* helper PID 0 ID 1 1 START COUNT: the caller's id as root, then the range
 * from 1 up.  Returns the helper's exit status, 127 if it is missing. */
static int run_map_helper(const char *helper, pid_t pid, unsigned int id,
			  unsigned long start, unsigned long count)
{
	char args[4][24];
	int wstatus;
	pid_t child;

	snprintf(args[0], sizeof(args[0]), "%d", pid);
	snprintf(args[1], sizeof(args[1]), "%u", id);
	snprintf(args[2], sizeof(args[2]), "%lu", start);
	snprintf(args[3], sizeof(args[3]), "%lu", count);
	child = fork();
	if (child == -1)
		die("fork %s", helper);
	if (child == 0) {
		sigset_t none;

		/* The tool blocks the signals it forwards; the helper must not
		 * inherit that. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execlp(helper, helper, args[0], "0", args[1], "1", "1", args[2],
		       args[3], (char *)NULL);
		_exit(127);
	}
	if (waitpid(child, &wstatus, 0) == -1)
		die("waitpid %s", helper);
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128;
}

/* The full map, where the caller has subordinate ids and the helpers are
 * installed; 0 if not, and the one-line map is used instead. */
static int map_subordinate_ids(pid_t pid, uid_t uid, gid_t gid)
{
	unsigned long ustart, ucount, gstart, gcount;
	char name[256];
	int status;

	if (!user_name(uid, name, sizeof(name)))
		snprintf(name, sizeof(name), "%u", uid);
	if (!subordinate_range("/etc/subuid", name, uid, &ustart, &ucount) ||
	    !subordinate_range("/etc/subgid", name, uid, &gstart, &gcount))
		return 0;
	status = run_map_helper("newuidmap", pid, uid, ustart, ucount);
	if (status == 127) {
		trace("subordinate ids for %s, but no newuidmap (apt-get install uidmap): one id mapped",
		      name);
		return 0;
	}
	if (status != 0)
		diex("newuidmap %d 0 %u 1 1 %lu %lu failed (exit status %d)",
		     pid, uid, ustart, ucount, status);
	status = run_map_helper("newgidmap", pid, gid, gstart, gcount);
	if (status != 0)
		diex("newgidmap %d 0 %u 1 1 %lu %lu failed (exit status %d)",
		     pid, gid, gstart, gcount, status);
	trace("user namespace: root inside is uid %u and gid %u outside, and ids 1 to %lu are uids %lu and up, gids %lu and up (/etc/subuid, /etc/subgid)",
	      uid, gid, ucount < gcount ? ucount : gcount, ustart, gstart);
	return 1;
}

/* Write to /proc/PID/FILE each range of /proc/self/FILE, each id mapped to
 * itself: one line per range, as the kernel wants a range of the new map
 * to lie within one range of ours. */
static void map_as_they_are(pid_t pid, const char *file)
{
	char self[32], path[64], map[4096];
	unsigned long inside, outside, count;
	size_t len = 0;
	FILE *f;

	snprintf(self, sizeof(self), "/proc/self/%s", file);
	f = fopen(self, "re");
	if (f == NULL)
		die("open %s", self);
	while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3 &&
	       len < sizeof(map) - 64)
		len += (size_t)snprintf(map + len, sizeof(map) - len,
					"%lu %lu %lu\n", inside, inside, count);
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	if (write_file(path, "%s", map) == -1)
		die("write our own ranges to %s", path);
}

void map_user_to_root(pid_t pid)
{
	char path[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (!rootless())
		return;
	/* Root of a user namespace may map every id its namespace has, as
	 * they are: no helper, no subordinate ids needed. */
	if (uid == 0) {
		map_as_they_are(pid, "uid_map");
		map_as_they_are(pid, "gid_map");
		trace("user namespace: every id of ours, as it is");
		return;
	}
	if (map_subordinate_ids(pid, uid, gid))
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
