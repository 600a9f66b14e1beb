/*
 * cgroup_life.c - stage 5's machinery around the lesson: how runs of the
 * tool that start and end at the same time share PARENT, how a cgroup left
 * by a tool killed with SIGKILL is found, and how a cgroup is emptied and
 * removed.  main.c teaches the cgroup; this file keeps the host tidy.
 * It also holds the details of main.c's steps that are v1 against v2, or
 * there to be robust: PARENT and v2's controllers (make_parent()), one
 * limit's write (write_limit()), clone3(2) into the cgroup
 * (clone_into_cgroup()), and the container's read-only /sys/fs/cgroup
 * (mount_cgroup_view()).
 *
 * Two locks, both flock(2) on a lock file in the tool's state directory
 * (/run/containers-from-scratch for root: see common/state.c), which only
 * the user who runs the tool can open; the kernel drops them when their
 * holder dies, even of SIGKILL:
 *  - the global lock, one for each cgroup tree the tool uses, around each
 *    look-then-act step on other runs' cgroups: pruning them, and making
 *    or removing PARENT;
 *  - the owner lock, one for each cgroup, named after the inode of its
 *    first directory, taken right after its mkdir under the global lock,
 *    and held until the cgroup is being removed.
 * So a cgroup whose owner lock is free or gone, seen under the global
 * lock, has no owner: it is stale, whether or not processes still run in
 * it.  No lock sits on a directory in /sys/fs/cgroup: anyone can open those
 * for reading, and so hold a flock on them, and stall every run.  Only
 * runs of the tool by the same user share the locks, and the global one is
 * waited for with a time limit: the way out never hangs on it.
 *
 * Discovery comes first: which hierarchy holds each controller.
 *
 * A start must cost the same however many containers run.  Testing an
 * owner lock costs an open and a flock, so few cgroups get that test: one
 * named ctr-PID (the default name) whose tool PID is alive is skipped for
 * the price of a kill(pid, 0), and at most MAX_CANDIDATES others are tested
 * on each start, from a different place in the list each time.  A PID that
 * was reused only delays the pruning until it exits; a live container is
 * never taken for stale, because the lock has the last word.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

#define MAX_CANDIDATES 8
/* A cgroup stays busy until its last process has finished exiting. */
#define REMOVE_TRIES 500 /* of 10 ms: 5 seconds */

const char *const controllers[NCONTROLLERS] = {"pids", "memory", "cpu"};

/* "cgroups-DEV-INO" of the tree's root, and "cgroup-DEV-INO" of a cgroup. */
#define LOCK_NAME 64
/* How long a start waits for another run's global lock, and an exit. */
#define START_WAIT_MS 10000
#define EXIT_WAIT_MS  1000

static int global_lock = -1;
static char global_name[LOCK_NAME];
static struct cgroup *owned;   /* what die() removes */
static struct cgroup *in_leaf; /* rootless: whose leaf holds the tool */
static void remove_owned(void);

/* A lock file's name: prefix-DEV-INO of path, so that the same directory,
 * by whatever path, has one lock, and a new one never shares it.  "" if
 * path is gone. */
static void lock_name(char *name, const char *prefix, const char *path)
{
	struct stat st;

	name[0] = '\0';
	if (stat(path, &st) == 0)
		snprintf(name, LOCK_NAME, "%s-%llx-%llx", prefix,
			 (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
}

/* The filesystem type at path, as statfs(2) reports it; 0 if none. */
static long fs_type(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 ? (long)st.f_type : 0;
}

static void use_hierarchy(struct cgroup *cg, int controller, const char *root,
			  int v2)
{
	struct hierarchy *h;
	int i;

	for (i = 0; i < cg->nh && strcmp(cg->h[i].root, root) != 0; i++)
		;
	h = &cg->h[i];
	if (i == cg->nh) {
		cg->nh++;
		make_path(h->root, sizeof(h->root), "%s", root);
		make_path(h->parent, sizeof(h->parent), "%s/%s", root,
			  CGROUP_PARENT);
		make_path(h->dir, sizeof(h->dir), "%s/%s", h->parent, cg->name);
		h->v2 = v2;
	}
	cg->of[controller] = i;
	trace("the %s controller is in the %s hierarchy at %s",
	      controllers[controller], v2 ? "unified (v2)" : "v1", root);
}
/*
 * Rootless: a user may make cgroups only in a subtree that root delegated to
 * it, by giving it the directory and its cgroup.procs, cgroup.threads and
 * cgroup.subtree_control; systemd does so for user@.service and for
 * `systemd-run --user -p Delegate=yes`.  Only v2 can delegate safely, so v1
 * and hybrid refuse.  Our own cgroup, from /proc/self/cgroup ("0::/path"),
 * must be such a subtree.  It then takes the place of the root: the
 * container's cgroup is <ours>/container/NAME.  v2 lets a cgroup either hold
 * processes or pass controllers on, and ours holds the tool: so the tool
 * moves first into a leaf of its own, <ours>/tool-PID, as crun does.
 */
static void find_delegated(struct cgroup *cg, long root, const char *mode,
			   char *dir, size_t size)
{
	char line[PATH_BUF], path[PATH_BUF], leaf[PATH_BUF];
	const char *files[] = {"", "/cgroup.procs", "/cgroup.subtree_control"};
	FILE *f;

	if (root != CGROUP2_SUPER_MAGIC)
		diex("without root, stage 5 needs cgroup v2, where a cgroup can be delegated to a user, and this machine's cgroups are %s: boot with systemd.unified_cgroup_hierarchy=1, or run as root",
		     mode);
	f = fopen("/proc/self/cgroup", "re");
	if (f == NULL)
		die("open /proc/self/cgroup");
	line[0] = '\0';
	while (fgets(line, sizeof(line), f) && strncmp(line, "0::", 3) != 0)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	if (strncmp(line, "0::/", 4) != 0)
		diex("no cgroup v2 line in /proc/self/cgroup");
	make_path(dir, size, "%s%s", CGROUP_ROOT,
		  strcmp(line + 3, "/") ? line + 3 : "");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		make_path(path, sizeof(path), "%s%s", dir, files[i]);
		if (access(path, W_OK) == -1)
			diex("without root, stage 5 needs a cgroup delegated to uid %u, and %s is not (%s): run it under 'systemd-run --user --scope -p Delegate=yes', or as root",
			     (unsigned)geteuid(), path, strerror(errno));
	}
	make_path(leaf, sizeof(leaf), "%s/tool-%d", dir, getpid());
	if (mkdir(leaf, 0755) == -1)
		die("mkdir %s", leaf);
	make_path(path, sizeof(path), "%s/cgroup.procs", leaf);
	if (write_file(path, "0") == -1)
		die("move the tool into its leaf: write 0 to %s", path);
	make_path(cg->tool_leaf, sizeof(cg->tool_leaf), "%s", leaf);
	in_leaf = cg;
	at_die(remove_owned);
	trace("delegated cgroup %s: the tool moved into %s", dir, leaf);
}

/*
 * Rootless, at the end: the tool goes back to the delegated cgroup and
 * removes its leaf, once no container is left there.  That needs the
 * controllers turned off first (no process may join a cgroup that passes
 * controllers on); while another run's container uses them, the leaf
 * stays, empty, and a later run removes it.
 */
static void leave_delegated(struct cgroup *cg)
{
	char dir[PATH_BUF], path[PATH_BUF];
	struct dirent *e;
	DIR *d;

	if (cg->tool_leaf[0] == '\0')
		return;
	make_path(dir, sizeof(dir), "%s", cg->tool_leaf);
	*strrchr(dir, '/') = '\0';
	make_path(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	for (int c = 0; c < NCONTROLLERS; c++)
		write_file(path, "-%s", controllers[c]);
	make_path(path, sizeof(path), "%s/cgroup.procs", dir);
	if (write_file(path, "0") == -1)
		return; /* another container runs: the leaf waits */
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "tool-", 5) == 0) {
			make_path(path, sizeof(path), "%s/%s", dir, e->d_name);
			rmdir(path); /* EBUSY: another tool is in it */
		}
	closedir(d);
	cg->tool_leaf[0] = '\0';
}

/*
 * Where each controller lives.  Not guessed from paths: statfs(2) on
 * /sys/fs/cgroup says cgroup2 on a pure v2 system, and a tmpfs holding the
 * v1 hierarchies otherwise, each one a cgroup filesystem at
 * /sys/fs/cgroup/<controller>; a hybrid system also has a cgroup2 at
 * /sys/fs/cgroup/unified.  A controller bound to a v1 hierarchy is absent
 * from the unified one, whose cgroup.controllers lists what it can offer.
 */
void find_controllers(struct cgroup *cg, const struct options *opts)
{
	static char unique[32], delegated[PATH_BUF];
	char path[PATH_BUF], offered[256] = "";
	const char *unified = NULL, *mode;
	long root = fs_type(CGROUP_ROOT);

	/* Without --name: unique among running tools, whose PIDs differ. */
	snprintf(unique, sizeof(unique), "ctr-%d", getpid());
	cg->name = opts->name ? opts->name : unique;

	if (root == CGROUP2_SUPER_MAGIC) {
		unified = CGROUP_ROOT;
		mode = "v2, one unified hierarchy";
	} else if (root == TMPFS_MAGIC &&
		   fs_type(CGROUP_ROOT "/unified") == CGROUP2_SUPER_MAGIC) {
		unified = CGROUP_ROOT "/unified";
		mode = "hybrid, v1 hierarchies and a cgroup2 at " CGROUP_ROOT
		       "/unified";
	} else if (root == TMPFS_MAGIC) {
		mode = "v1, a hierarchy for each controller";
	} else {
		diex("no cgroup filesystem at %s: mount one with 'mount -t cgroup2 none %s'",
		     CGROUP_ROOT, CGROUP_ROOT);
	}
	trace("cgroup mode: %s", mode);
	cg->rootless = opts->rootless;
	if (cg->rootless) {
		find_delegated(cg, root, mode, delegated, sizeof(delegated));
		unified = delegated;
	}
	if (unified) {
		make_path(path, sizeof(path), "%s/cgroup.controllers", unified);
		if (read_file(path, offered, sizeof(offered)) == -1)
			die("read %s", path);
	}
	for (int c = 0; c < NCONTROLLERS; c++) {
		make_path(path, sizeof(path), "%s/%s", CGROUP_ROOT,
			  controllers[c]);
		if (root == TMPFS_MAGIC && fs_type(path) == CGROUP_SUPER_MAGIC)
			use_hierarchy(cg, c, path, 0);
		else if (unified && has_word(offered, controllers[c]))
			use_hierarchy(cg, c, unified, 1);
		else if (root == TMPFS_MAGIC)
			diex("no %s controller: no v1 hierarchy at %s%s%s; mount one (mount -t cgroup -o %s cgroup %s), or boot a kernel that has it, without cgroup_disable=%s",
			     controllers[c], path,
			     unified ? " and none in the cgroup2 at " : "",
			     unified ? unified : "", controllers[c], path,
			     controllers[c]);
		else
			diex("no %s controller: %s/cgroup.controllers lacks it; boot a kernel that has it, without cgroup_disable=%s",
			     controllers[c], unified, controllers[c]);
	}
	lock_name(global_name, "cgroups", cg->h[0].root);
}

/* The well-known causes of a failed mkdir or write in a cgroup filesystem. */
const char *cgroup_hint(const struct cgroup *cg, int err)
{
	if (err == EROFS)
		return "the cgroup filesystem is mounted read-only, as inside most containers: run on the host, or remount it read-write";
	if (err == EBUSY && cg->rootless)
		return "cgroup v2 lets no cgroup but the root both hold processes and pass controllers on, and other processes, a shell perhaps, share the delegated cgroup: start the tool alone in one, with systemd-run --user --scope -p Delegate=yes";
	if (err == EBUSY)
		return "cgroup v2 lets no cgroup but the root both hold processes and pass controllers on";
	return NULL;
}

static int try_lock_cgroups(int wait_ms)
{
	if (global_lock != -1)
		return 0; /* held: die() cleans up in the middle of a step */
	global_lock = take_lock(global_name, wait_ms, 1);
	if (global_lock < 0)
		return -1;
	at_die(remove_owned); /* which drops the lock's file too */
	return 0;
}

void lock_cgroups(void)
{
	/* Only runs of the tool by the same user can hold it, for a few
	 * milliseconds each: a long wait is a stopped run (Ctrl-Z). */
	if (try_lock_cgroups(START_WAIT_MS) == -1)
		diex("another run of the tool has held the lock on the cgroups for %d s: is one stopped (Ctrl-Z)?",
		     START_WAIT_MS / 1000);
}

void unlock_cgroups(void)
{
	if (global_lock != -1)
		drop_lock(global_name, global_lock);
	global_lock = -1;
}

/* Is process pid in the cgroup rel ("/container/NAME", as the hierarchy
 * names it) of some hierarchy, as /proc/PID/cgroup says now? */
static int in_cgroup(pid_t pid, const char *rel)
{
	char path[64], line[PATH_BUF];
	const char *where;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		where = strchr(line, ':');
		where = where ? strchr(where + 1, ':') : NULL;
		found = where != NULL && strcmp(where + 1, rel) == 0;
	}
	fclose(f);
	return found;
}

/*
 * SIGKILL one PID that cgroup.procs listed, but only the process that is
 * still in the cgroup: by now it may have exited and its PID gone to a
 * host process.  A pidfd pins one process; if that process still lives
 * after we saw its PID in the cgroup, the PID is still its own, so it is
 * the one we saw, and the signal goes to it and nowhere else.
 */
static void kill_member(pid_t pid, const char *rel)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pidfd == -1 && errno == ENOSYS) {
		/* Before Linux 5.3: a narrow window remains. */
		if (in_cgroup(pid, rel) && kill(pid, SIGKILL) == -1 &&
		    errno != ESRCH)
			warn_msg("kill %d: %s", pid, strerror(errno));
		return;
	}
	if (pidfd == -1)
		return; /* ESRCH: gone already */
	if (in_cgroup(pid, rel) &&
	    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) == -1 &&
	    errno != ESRCH)
		warn_msg("kill %d: %s", pid, strerror(errno));
	close(pidfd);
}

/*
 * Kill whatever is in a cgroup.  When PID 1 of a PID namespace exits the
 * kernel kills the rest, but a process can also have been moved in from
 * outside, or have outlived a SIGKILLed tool.  v2 has cgroup.kill (Linux
 * 5.14), which also catches a process that forks while we kill; v1 has not,
 * so we kill each process that cgroup.procs lists and that is still there
 * (kill_member()), and the caller looks again.
 */
static void kill_all(const char *dir, const char *rel, int v2)
{
	char path[PATH_BUF];
	FILE *f;
	int pid;

	make_path(path, sizeof(path), "%s/cgroup.kill", dir);
	if (v2 && write_file(path, "1") == 0)
		return;
	make_path(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (f == NULL)
		return;
	while (fscanf(f, "%d", &pid) == 1)
		kill_member(pid, rel);
	fclose(f);
}

/* rmdir fails with EBUSY while the cgroup holds a process, even one that
 * is still exiting: kill and try again.  rel is the cgroup's path as the
 * hierarchy names it. */
static void remove_dir(const char *dir, const char *rel, int v2)
{
	const struct timespec tick = {0, 10 * 1000 * 1000};

	for (int try = 0;; try++) {
		if (rmdir(dir) == 0)
			break;
		if (errno == ENOENT)
			return;
		if (errno != EBUSY || try == REMOVE_TRIES) {
			warn_msg("rmdir %s: %s", dir, strerror(errno));
			return;
		}
		kill_all(dir, rel, v2);
		nanosleep(&tick, NULL);
	}
	trace("removed cgroup %s", dir);
}

/* Where the hierarchy is mounted: /proc/PID/cgroup names a cgroup by its
 * path below there.  A delegated v2 root is a cgroup deep in the tree. */
static const char *mount_point(const struct hierarchy *h)
{
	if (!h->v2)
		return h->root;
	return fs_type(CGROUP_ROOT) == CGROUP2_SUPER_MAGIC ? CGROUP_ROOT
							   : CGROUP_ROOT
		       "/unified";
}

/* The cgroup called name, in every hierarchy, in the reverse order of their
 * making. */
static void remove_named(const struct cgroup *cg, const char *name)
{
	char dir[PATH_BUF];

	for (int i = cg->nh - 1; i >= 0; i--) {
		make_path(dir, sizeof(dir), "%s/%s", cg->h[i].parent, name);
		remove_dir(dir, dir + strlen(mount_point(&cg->h[i])),
			   cg->h[i].v2);
	}
}

/* Is there a cgroup called name, and has it no owner?  Under the global
 * lock, a free or missing owner lock says so; so does a cgroup whose first
 * directory, the one that names the lock, is gone. */
static int is_stale(const struct cgroup *cg, const char *name)
{
	char dir[PATH_BUF], lock[LOCK_NAME];
	int fd;

	make_path(dir, sizeof(dir), "%s/%s", cg->h[0].parent, name);
	lock_name(lock, "cgroup", dir);
	if (lock[0] != '\0') {
		fd = take_lock(lock, 0, 0);
		if (fd >= 0)
			drop_lock(lock, fd); /* its owner is gone */
		return fd != -2;
	}
	for (int i = 1; i < cg->nh; i++) {
		make_path(dir, sizeof(dir), "%s/%s", cg->h[i].parent, name);
		if (access(dir, F_OK) == 0)
			return 1;
	}
	return 0;
}

static void prune_if_stale(const struct cgroup *cg, const char *name)
{
	if (!is_stale(cg, name))
		return;
	remove_named(cg, name);
	trace("removed stale cgroup %s/%s: its owner is gone", cg->h[0].parent,
	      name);
}

/*
 * An owner lock file outlives its cgroup where something else removed the
 * cgroup (an administrator's rmdir, a test sandbox's teardown) after its
 * tool was killed.  A free one says only what a missing one says, that
 * the owner is gone: remove it.  As many as the prune tests, no more, from
 * a different place each time, so that a start costs the same however
 * many containers run.
 */
static void sweep_owner_locks(void)
{
	struct dirent *e;
	int dir, fd, skip = 0, tested = 0;
	DIR *d;

	dir = state_dir(0);
	if (dir == -1)
		return;
	d = fdopendir(dir);
	if (d == NULL)
		die("opendir the state directory");
	while ((e = readdir(d)) != NULL)
		skip += strncmp(e->d_name, "cgroup-", 7) == 0;
	skip = skip > MAX_CANDIDATES ? getpid() % (skip - MAX_CANDIDATES + 1)
				     : 0;
	rewinddir(d);
	while ((e = readdir(d)) != NULL && tested < MAX_CANDIDATES) {
		if (strncmp(e->d_name, "cgroup-", 7) != 0 || skip-- > 0)
			continue;
		tested++;
		fd = take_lock(e->d_name, 0, 0);
		if (fd >= 0)
			drop_lock(e->d_name, fd);
	}
	closedir(d);
}

void prune_stale_cgroups(struct cgroup *cg)
{
	int tested = 0, start;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	DIR *d;

	sweep_owner_locks();
	/* Our own name first: a stale one of that name is in the way. */
	prune_if_stale(cg, cg->name);
	/* The first hierarchy is enough: a cgroup is made there first and
	 * removed from there last, so no other holds one it lacks. */
	d = opendir(cg->h[0].parent);
	if (d == NULL && errno == ENOENT)
		return;
	if (d == NULL)
		die("opendir %s", cg->h[0].parent);
	while ((e = readdir(d)) != NULL) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.' ||
		    named_owner_alive(e->d_name))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		if (names == NULL || (names[n++] = strdup(e->d_name)) == NULL)
			die("malloc");
	}
	closedir(d);
	start = n ? (int)((size_t)getpid() % n) : 0;
	for (size_t k = 0; k < n; k++) {
		const char *name = names[(start + k) % n];

		if (tested < MAX_CANDIDATES && strcmp(name, cg->name) != 0) {
			tested++;
			prune_if_stale(cg, name);
		}
	}
	for (size_t k = 0; k < n; k++)
		free(names[k]);
	free(names);
}

static void remove_owned(void)
{
	if (owned != NULL)
		remove_cgroup(owned);
	else if (in_leaf != NULL)
		leave_delegated(in_leaf);
	unlock_cgroups(); /* a die() under the lock: its file goes too */
}

void own_cgroup(struct cgroup *cg)
{
	lock_name(cg->owner_lock, "cgroup", cg->h[0].dir);
	if (cg->owner_lock[0] == '\0')
		die("stat %s", cg->h[0].dir);
	cg->owner_fd = take_lock(cg->owner_lock, 0, 1);
	if (cg->owner_fd < 0)
		die("lock %s", cg->h[0].dir);
	owned = cg;
	at_die(remove_owned);
}

/*
 * The one cleanup path, however the tool ends: kill what is left, remove
 * our cgroup in the reverse order of its making, release the owner lock,
 * and remove PARENT if no other container uses it (rmdir fails if one
 * does).  die() runs it too, so it warns rather than dies.
 */
void remove_cgroup(struct cgroup *cg)
{
	owned = NULL;
	/* Released first: a run that finds the cgroup unowned now would only
	 * do what we are about to do. */
	if (cg->owner_fd != -1)
		drop_lock(cg->owner_lock, cg->owner_fd);
	cg->owner_fd = -1;
	remove_named(cg, cg->name);
	if (try_lock_cgroups(EXIT_WAIT_MS) == -1) {
		/* A stopped run holds it: PARENT waits for a later run. */
		trace("the lock on the cgroups is held: %s is left for a later run",
		      cg->h[0].parent);
		leave_delegated(cg);
		return;
	}
	for (int i = cg->nh - 1; i >= 0; i--) {
		if (rmdir(cg->h[i].parent) == 0)
			trace("removed %s: no container is left",
			      cg->h[i].parent);
		else if (errno != EBUSY && errno != ENOTEMPTY &&
			 errno != ENOENT)
			warn_msg("rmdir %s: %s", cg->h[i].parent,
				 strerror(errno));
	}
	leave_delegated(cg);
	unlock_cgroups();
}

/* The "oom_kill" line of memory.events (v2) or memory.oom_control (v1). */
static long long oom_kills(const struct cgroup *cg)
{
	const struct hierarchy *h = &cg->h[cg->of[MEMORY]];
	char path[PATH_BUF];
	long long n;

	make_path(path, sizeof(path), "%s/%s", h->dir,
		  h->v2 ? "memory.events" : "memory.oom_control");
	if (read_key(path, "oom_kill", &n) == -1) {
		warn_msg("read oom_kill from %s: %s", path, strerror(errno));
		return 0;
	}
	return n;
}

void report_oom(const struct cgroup *cg, int wstatus, long long limit)
{
	long long kills = oom_kills(cg);
	char size[32];

	if (kills == 0)
		return;
	format_size(limit, size, sizeof(size));
	if (exit_status(wstatus) == 128 + SIGKILL)
		warn_msg("killed: out of memory (limit %s)", size);
	else
		warn_msg(
			"out of memory (limit %s): %lld process%s killed in the container",
			size, kills, kills == 1 ? "" : "es");
}

/* ---- the details of main.c's steps: PARENT, a limit's write, clone3 ---- */

/*
 * v2's "no internal processes" rule: a cgroup other than the root either
 * holds processes or passes controllers on to its children, not both.  So
 * PARENT holds no process, only our cgroups, and passes on the controllers:
 * a controller is in a cgroup only if it is enabled in the
 * cgroup.subtree_control of every ancestor, from the root down.  The root's
 * is left as it is afterwards: systemd enables these there at boot, and
 * other cgroups may have come to use them since.
 */
static void enable_controllers(const struct cgroup *cg, const char *dir)
{
	char path[PATH_BUF], enabled[256];

	make_path(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	if (read_file(path, enabled, sizeof(enabled)) == -1)
		die("read %s", path);
	for (int c = 0; c < NCONTROLLERS; c++) {
		if (!cg->h[cg->of[c]].v2 || has_word(enabled, controllers[c]))
			continue;
		if (write_file(path, "+%s", controllers[c]) == -1)
			die_hint(cgroup_hint(cg, errno), "enable %s in %s",
				 controllers[c], path);
		trace("enable the %s controller in %s", controllers[c], path);
	}
}

/* One write of write_limits(): an optional file that the kernel lacks is
 * traced and skipped, any other failure is fatal. */
void write_limit(const struct hierarchy *h, const char *file, const char *value,
		 int optional)
{
	char path[PATH_BUF];

	make_path(path, sizeof(path), "%s/%s", h->dir, file);
	if (write_file(path, "%s", value) == -1) {
		if (errno == ENOENT && optional) {
			trace("no %s: this kernel does not account for swap",
			      file);
			return;
		}
		die_hint(errno == ENOENT
				 ? "the kernel was built without this feature"
				 : NULL,
			 "write %s to %s", value, path);
	}
	trace("write %s to %s", value, path);
}

/* PARENT, shared by every container, is made by the first run that needs
 * it; on v2 it passes the controllers on (enable_controllers()). */
void make_parent(const struct cgroup *cg, const struct hierarchy *h)
{
	if (h->v2)
		enable_controllers(cg, h->root);
	if (mkdir(h->parent, 0755) == 0)
		trace("created cgroup %s, the parent of every container's cgroup",
		      h->parent);
	else if (errno != EEXIST)
		die_hint(cgroup_hint(cg, errno), "mkdir %s", h->parent);
	if (h->v2)
		enable_controllers(cg, h->parent);
}

/*
 * On v2, the container starts inside its cgroup: clone3(2) with
 * CLONE_INTO_CGROUP (Linux 5.7) takes the cgroup as a directory fd, and the
 * child's first instruction already runs under its limits.  Nothing moves,
 * so nothing waits for the lock that a move takes.  Returns -1 where that
 * cannot be done (v1, or a kernel or seccomp filter without clone3); the
 * child then joins by itself, in join_cgroup().
 */
pid_t clone_into_cgroup(struct cgroup *cg, unsigned long long flags,
			int (*fn)(void *), void *arg)
{
	struct clone_args how = {.flags = flags | CLONE_INTO_CGROUP,
				 .exit_signal = SIGCHLD};
	pid_t pid;
	int fd;

	if (cg->nh != 1 || !cg->h[0].v2)
		return -1; /* v1 or hybrid: no single cgroup to start in */
	if (fallback_forced("clone3")) {
		trace("clone3 not used (CONTAINER_FORCE_FALLBACK): the child joins its cgroup itself");
		return -1;
	}
	fd = open(cg->h[0].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		die("open %s", cg->h[0].dir);
	how.cgroup = (unsigned int)fd;
	cg->child_inside = 1;
	pid = (pid_t)syscall(SYS_clone3, &how, sizeof(how));
	if (pid == 0)
		_exit(fn(arg)); /* the child, on a copy of our stack */
	close(fd);
	if (pid == -1 && (errno == ENOSYS || errno == E2BIG)) {
		trace("clone3 with CLONE_INTO_CGROUP refused (%s): the child joins its cgroup itself",
		      strerror(errno));
		cg->child_inside = 0;
		return -1;
	}
	if (pid == -1)
		die_hint(clone_hint(cg->rootless), "clone3");
	trace("clone3 with CLONE_INTO_CGROUP: the child starts in %s",
	      cg->h[0].dir);
	return pid;
}

/* ---- inside the container: /sys/fs/cgroup ---- */

/*
 * v1 has no one filesystem to mount for every controller, and mounting a
 * hierarchy again needs its exact options ("cpu,cpuacct").  So the
 * container's own cgroup in each hierarchy is bound in, as
 * /sys/fs/cgroup/pids, /sys/fs/cgroup/memory, ...: it shows the limits
 * and nothing of the host's tree.  The tmpfs holding them is made
 * read-only with them, in one make_read_only().
 */
static void mount_v1_view(const struct cgroup *cg, int dir)
{
	char path[32], source[32];
	const char *name;
	int top, sub, src;

	if (mount("tmpfs", fd_path(dir, path, sizeof(path)), "tmpfs",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k") == -1)
		die("mount tmpfs on /sys/fs/cgroup");
	top = open_in_root(CGROUP_ROOT); /* the new tmpfs */
	for (int i = 0; i < cg->nh; i++) {
		name = strrchr(cg->h[i].root, '/') + 1;
		if (mkdirat(top, name, 0755) == -1)
			die("mkdir %s/%s in the container", CGROUP_ROOT, name);
		sub = openat(top, name,
			     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		src = open(cg->h[i].dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (sub == -1 || src == -1)
			die("open %s", cg->h[i].dir);
		if (mount(fd_path(src, source, sizeof(source)),
			  fd_path(sub, path, sizeof(path)), NULL, MS_BIND,
			  NULL) == -1)
			die("bind-mount %s on %s/%s", cg->h[i].dir, CGROUP_ROOT,
			    name);
		close(src);
		close(sub);
	}
	make_read_only(top);
	close(top);
}

/* /sys/fs/cgroup, read-only, where a program reads its own limits.  On v2,
 * cgroup2 mounted in the namespace shows the container's cgroup as its
 * top.  v1 has a hierarchy per controller: mount_v1_view() binds the
 * container's cgroup of each one in.  Without root, /sys is the host's,
 * bound in, and /sys/fs/cgroup the root of the host's cgroup2 mount: the
 * kernel refuses a filesystem mounted again on its own root (EBUSY), so a
 * tmpfs goes between them first. */
void mount_cgroup_view(const struct cgroup *cg)
{
	unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	char path[32];
	int dir = open_in_root("/sys/fs/cgroup"), rc;

	if (cg->nh == 1 && cg->h[0].v2) {
		rc = mount("cgroup2", fd_path(dir, path, sizeof(path)),
			   "cgroup2", flags, NULL);
		if (rc == -1 && errno == EBUSY) {
			if (mount("tmpfs", path, "tmpfs", flags & ~MS_RDONLY,
				  "size=0,mode=755") == -1)
				die("mount tmpfs on /sys/fs/cgroup");
			close(dir);
			dir = open_in_root("/sys/fs/cgroup");
			rc = mount("cgroup2", fd_path(dir, path, sizeof(path)),
				   "cgroup2", flags, NULL);
		}
		if (rc == -1)
			die("mount cgroup2 on /sys/fs/cgroup");
	} else {
		mount_v1_view(cg, dir);
	}
	close(dir);
	trace("mount the container's cgroup on /sys/fs/cgroup, read-only");
}
