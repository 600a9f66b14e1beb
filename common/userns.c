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
 * once, by the parent, after the clone: each stage's map_user_to_root()
 * does it, on its own page, for that is the lesson.  This file holds the
 * plumbing around it, each piece given what it needs by its caller: no
 * state of its own.
 *
 * Where the administrator gave the caller subordinate ids (a line for the
 * user in /etc/subuid and /etc/subgid), the full range is mapped too, as
 * rootless podman does: root inside is the caller, and ids 1 to N inside
 * are the range, so files with several owners keep them apart.  Only the
 * setuid helpers newuidmap(1) and newgidmap(1), from shadow's uidmap
 * package, may write such a map: they check it against those two files.
 * newgidmap leaves setgroups as it finds it when it maps a range (shadow's
 * fix for CVE-2018-7169 denies it only for a map of the caller's own gid),
 * so the stage writes "deny" first here too, unless --setgroups allow:
 * map_subordinate_ids() runs the helpers.
 *
 * Every stage calls user_namespace_flag() in its clone and its own
 * map_user_to_root() between the child's acknowledgement and its go-ahead;
 * as root both do nothing, and the stages run as before.  Stages 4 and 5
 * also lock their mounts: lock_mounts() in the child after its last mount,
 * and map_inner_namespace() in the tool after the go-ahead.  Whether the
 * tool runs without root is opts->rootless, decided by parse_args() before
 * the clone: inside its user namespace the child is root, and asks no one.
 *
 * See: user_namespaces(7), clone(2) (CLONE_NEWUSER)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdnoreturn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define SETGROUPS_ALLOW_NEEDS                                                  \
	"--setgroups allow needs subordinate ids in /etc/subuid and /etc/subgid, and newgidmap (make doctor): without them, the kernel lets a user map its own gid only once setgroups is denied"

/* Are we in the host's own user namespace?  Its map is the one that maps
 * every id, "0 0 4294967295" (runc's RunningInUserNS() reads it the same
 * way); any other user namespace maps less. */
static int in_initial_user_namespace(void)
{
	unsigned long inside, outside, count;
	FILE *f = fopen("/proc/self/uid_map", "re");
	int initial;

	if (f == NULL)
		return 1; /* no /proc: nothing to tell, assume the host's */
	initial = fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3 &&
		  inside == 0 && outside == 0 && count == 4294967295UL;
	fclose(f);
	return initial;
}

/* Root of a user namespace that is not the host's (make grade's sandbox,
 * a rootless podman container) is rootless too: the kernel refuses it
 * mknod(2), and the host's files judge it by its uid outside. */
int rootless(void)
{
	return geteuid() != 0 || !in_initial_user_namespace();
}

static int have_subordinate_ids(uid_t uid);

int user_namespace_flag(const struct options *opts)
{
	if (!opts->rootless)
		return 0;
	/* Refused here, before anything exists, where it can be foreseen. */
	if (opts->setgroups_allowed && geteuid() != 0 &&
	    !have_subordinate_ids(geteuid()))
		diex("%s", SETGROUPS_ALLOW_NEEDS);
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

static int have_subordinate_ids(uid_t uid)
{
	unsigned long start, count;
	char name[256];

	if (!user_name(uid, name, sizeof(name)))
		snprintf(name, sizeof(name), "%u", uid);
	return subordinate_range("/etc/subuid", name, uid, &start, &count) &&
	       subordinate_range("/etc/subgid", name, uid, &start, &count);
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

static void map_as_ours(pid_t pid);

int map_subordinate_ids(pid_t pid, uid_t uid, gid_t gid, int setgroups_allowed)
{
	unsigned long ustart, ucount, gstart, gcount;
	char name[256];
	int status;

	/* Root of a user namespace that is not the host's holds CAP_SETUID
	 * over it, and maps every id it has to the same id below, as the
	 * tool does for lock_mounts(): no helper, no subordinate ids. */
	if (uid == 0) {
		map_as_ours(pid);
		trace("user namespace: every id of ours is the same id inside");
		return 1;
	}
	if (!user_name(uid, name, sizeof(name)))
		snprintf(name, sizeof(name), "%u", uid);
	if (!subordinate_range("/etc/subuid", name, uid, &ustart, &ucount) ||
	    !subordinate_range("/etc/subgid", name, uid, &gstart, &gcount))
		goto one_id;
	status = run_map_helper("newuidmap", pid, uid, ustart, ucount);
	if (status == 127) {
		trace("subordinate ids for %s, but no newuidmap (apt-get install uidmap): one id mapped",
		      name);
		goto one_id;
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
one_id:
	/* A map of the caller's own gid is refused while setgroups is
	 * allowed: --setgroups allow needs the helpers. */
	if (setgroups_allowed)
		diex("%s", SETGROUPS_ALLOW_NEEDS);
	return 0;
}

/*
 * Without root, root in the container owns the mount namespace it built,
 * and may change any of its mounts: `mount -o remount,bind,rw` on a :ro
 * volume makes it writable again, and the host directory with it.  The
 * kernel forbids that for one kind of mount only: a locked one.  When a
 * new mount namespace is made for a new, less privileged user namespace,
 * every mount it copies is locked (mount_namespaces(7)): its read-only,
 * nosuid, nodev and noexec flags can no longer be cleared, and it cannot
 * be unmounted to show what is under it.
 *
 * So once its mounts are made, the container enters such a pair:
 * unshare(CLONE_NEWUSER | CLONE_NEWNS), and CLONE_NEWUTS so that root
 * inside may still rename the container.  bubblewrap makes a second user
 * namespace in the same place, after its last pivot_root, for its sandbox.
 * The new user namespace maps the same ids as ours, one to one: root is
 * still root, and still the caller outside.  The kernel takes a map of more
 * than one id only from a privileged process in the namespace just above:
 * the tool does it (map_inner_namespace()), asked and answered on the
 * socket of the go-ahead.  Root inside keeps no power over the PID
 * namespace, which belongs to the outer user namespace: it cannot mount
 * another /proc.  As root, there is no user namespace, and root in the
 * container may remount anything: it is root.
 */
void lock_mounts(const struct options *opts, int sync_fd)
{
	char word;

	if (!opts->rootless)
		return;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWUTS) == -1)
		die("unshare CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWUTS");
	if (send(sync_fd, "u", 1, MSG_NOSIGNAL) != 1 ||
	    recv(sync_fd, &word, 1, 0) != 1)
		diex("the tool did not map the inner user namespace");
	trace("a user namespace inside ours, with a mount namespace whose copies of our mounts are locked: a :ro volume stays read-only");
}

/* The same ids inside as outside, for every id that our namespace maps:
 * read from its map, "INSIDE OUTSIDE COUNT" lines, written as "INSIDE
 * INSIDE COUNT". */
static void identity_map(const char *file, char *map, size_t size)
{
	unsigned long first, count;
	size_t len = 0;
	FILE *f = fopen(file, "re");

	if (f == NULL)
		die("open %s", file);
	map[0] = '\0';
	while (fscanf(f, "%lu %*u %lu", &first, &count) == 2) {
		len += (size_t)snprintf(map + len, size - len, "%lu %lu %lu\n",
					first, first, count);
		if (len >= size)
			diex("%s: too many lines", file);
	}
	fclose(f);
}

/* Process pid's user namespace maps every id of ours to itself: the
 * container's, from root of a user namespace that is not the host's (see
 * rootless()), and the inner one of lock_mounts(). */
static void map_as_ours(pid_t pid)
{
	const char *const files[] = {"uid_map", "gid_map"};
	char from[32], path[64], map[256];

	for (int i = 0; i < 2; i++) {
		snprintf(from, sizeof(from), "/proc/self/%s", files[i]);
		identity_map(from, map, sizeof(map));
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, files[i]);
		if (write_file(path, "%s", map) == -1)
			die("write the identity map to %s", path);
	}
}

/* In a child of the tool, which joins the container's outer user namespace
 * (its owner may), and there has the privilege to map the inner one. */
static noreturn void write_inner_maps(pid_t pid, int outer)
{
	if (setns(outer, CLONE_NEWUSER) == -1)
		die("setns into the container's user namespace");
	map_as_ours(pid);
	_exit(0);
}

void map_inner_namespace(const struct options *opts, pid_t pid, int sync_fd)
{
	char path[64], word;
	int inner, outer, wstatus;
	pid_t helper;

	if (!opts->rootless || recv(sync_fd, &word, 1, 0) != 1)
		return; /* as root, or the child died: supervise() says how */
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	inner = open(path, O_RDONLY | O_CLOEXEC);
	if (inner == -1)
		die("open %s", path);
	outer = ioctl(inner, NS_GET_PARENT);
	if (outer == -1)
		die("ioctl NS_GET_PARENT on %s", path);
	close(inner);
	helper = fork();
	if (helper == -1)
		die("fork the helper that maps the inner user namespace");
	if (helper == 0)
		write_inner_maps(pid, outer);
	close(outer);
	if (waitpid(helper, &wstatus, 0) == -1)
		die("waitpid the helper");
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
		diex("could not map the container's inner user namespace");
	if (send(sync_fd, "m", 1, MSG_NOSIGNAL) == -1 && errno != EPIPE)
		die("send to the child");
}

const char *clone_hint(int rootless)
{
	if (!rootless)
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
