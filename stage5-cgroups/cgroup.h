/*
 * cgroup.h - what stage 5's main.c and cgroup_life.c share: the container's
 * cgroup, one directory in each hierarchy it uses.
 */
#ifndef CGROUP_H
#define CGROUP_H

#include "common.h"

/* A container's cgroup is PARENT/NAME in each hierarchy it uses: for
 * instance /sys/fs/cgroup/pids/container/NAME (v1), or
 * /sys/fs/cgroup/container/NAME (v2). */
#define CGROUP_ROOT   "/sys/fs/cgroup"
#define CGROUP_PARENT "container"

/* The controllers this stage uses.  Each one is bound either to a v1
 * hierarchy of its own or to the unified (v2) hierarchy. */
enum { PIDS, MEMORY, CPU, NCONTROLLERS };

/* A hierarchy we use, and our cgroup in it. */
struct hierarchy {
	char root[PATH_BUF]; /* /sys/fs/cgroup/pids, or the unified root */
	int v2;		     /* cgroup2: v2 names, and cgroup.subtree_control */
	char parent[PATH_BUF]; /* root/container */
	char dir[PATH_BUF];    /* root/container/NAME */
};

struct cgroup {
	const char *name;		  /* --name, or ctr-<the tool's PID> */
	struct hierarchy h[NCONTROLLERS]; /* one on v2; up to three on v1 */
	int nh;
	int of[NCONTROLLERS]; /* controller -> its hierarchy in h[] */
	int owner_fd;	      /* our owner lock, held for as long as we live */
	char owner_lock[64];  /* its name in the state directory */
	char tool_leaf[PATH_BUF]; /* rootless: where the tool moved; "" */
	int child_inside;	  /* clone3(2) started the child in it */
	int rootless;		  /* the tool is not root: opts->rootless */
};

/* ---- cgroup_life.c: the machinery around the lesson ---- */

extern const char *const controllers[NCONTROLLERS]; /* "pids", ... */

/* Tell v1, hybrid and v2 apart with statfs(2), and find the hierarchy of
 * each controller; name the cgroup --name, or ctr-<the tool's PID>. */
void find_controllers(struct cgroup *cg, const struct options *opts);
/* A hint for a well-known cause of a failed mkdir or write, or NULL. */
const char *cgroup_hint(const struct cgroup *cg, int err);

/* Take and release the lock under which runs of the tool look at and change
 * one another's cgroups. */
void lock_cgroups(void);
void unlock_cgroups(void);
/* Remove the cgroups that tools killed with SIGKILL left, and end what still
 * runs in them.  Call it under lock_cgroups(). */
void prune_stale_cgroups(struct cgroup *cg);
/* Mark cg as ours, for as long as we live, right after its mkdir, under
 * lock_cgroups(); and make die() remove it. */
void own_cgroup(struct cgroup *cg);
/* Kill what is left in cg, remove it in every hierarchy, and remove PARENT
 * if no container uses it any more.  Warns rather than dies. */
void remove_cgroup(struct cgroup *cg);
/* Write value to h's file: die if that fails, unless the file is optional
 * and the kernel lacks it. */
void write_limit(const struct hierarchy *h, const char *file, const char *value,
		 int optional);
/* Make PARENT in h if it is not there, under lock_cgroups(); on v2, with
 * the controllers we use enabled from the root down to its children. */
void make_parent(const struct cgroup *cg, const struct hierarchy *h);
/* On v2, clone3(2) fn(arg) with flags straight into cg, and set
 * cg->child_inside; -1 where that cannot be done (v1, no clone3), for the
 * caller to clone(2) instead. */
pid_t clone_into_cgroup(struct cgroup *cg, unsigned long long flags,
			int (*fn)(void *), void *arg);
/* The container's /sys/fs/cgroup, read-only, showing its own cgroup only:
 * cgroup2 in the cgroup namespace, or v1's hierarchies bound in.  Call it
 * in the new root, before pivot_root. */
void mount_cgroup_view(const struct cgroup *cg);
/* Say that the OOM killer struck in cg, which SIGKILL alone does not
 * tell.  Call it before remove_cgroup(), which takes the count away. */
void report_oom(const struct cgroup *cg, int wstatus, long long limit);

#endif
