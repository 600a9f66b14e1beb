/*
 * common.h - plumbing shared by every stage.
 *
 * Error reporting, writing small files, parsing the command line and its
 * values, the clone stack and the parent's wait-and-forward loop, the user
 * namespace's maps, the tool's lock files in a directory only its owner
 * can open (state.c), and for stages 4 and 5 the safeguards around the
 * new root (opening a mount point inside it, read-only trees, --layer).  None
 * of this is a lesson: the system calls each stage exists to teach stay in
 * that stage's main.c, so a reader never has to open this directory to
 * follow a stage.
 */
#ifndef COMMON_H
#define COMMON_H

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdnoreturn.h>
#include <sys/types.h>

/* Exit statuses, as docker run uses them. */
#define EXIT_TOOL_FAILED 125 /* bad usage, invalid value, a setup step */
#define EXIT_CANNOT_EXEC 126 /* the command exists but cannot run */
#define EXIT_NOT_FOUND	 127 /* the command was not found */

#define VERSION		 "1.0.0"
#define DEFAULT_HOSTNAME "container"
#define STACK_SIZE	 (1024 * 1024)
#define MAX_VOLUMES	 16
/* A buffer for a path built from a directory of up to PATH_MAX and a file
 * name below it, such as <cgroup dir>/pids.max. */
#define PATH_BUF (PATH_MAX + 256)

/* ---- errors and tracing (err.c) ---- */

/* Print "container: <what>: <strerror(errno)>" and exit 125. */
noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "container: <what>" and exit 125. */
noreturn void diex(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like die(), and add "(hint: ...)" for a failure with a well-known cause. */
noreturn void die_hint(const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Undo what the tool made before die() exits: up to four cleanups, run
 * newest first, each only in the process that registered it, never in its
 * clone children.  Registering one twice is registering it once. */
void at_die(void (*cleanup)(void));
/* Print "container: <what>" and carry on. */
void warn_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* With --verbose, print "<stage>: <what>" on stderr. */
void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Called once, by main() after parse_args(): trace from now on if on
 * (opts.verbose), each line prefixed "stageN".  Like openlog(3), it sets
 * err.c's two variables; main() calls it before the clone, so the child
 * starts with a copy of them. */
void start_trace(int stage, int on);

/* ---- files (file.c) ---- */

/* snprintf for paths: a path that does not fit is an error (exit 125 with
 * "path too long"), never silently cut short. */
void make_path(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Is path the directory top, or somewhere below it? */
int path_is_under(const char *path, const char *top);
/* Write a short string to a file such as /proc/.../uid_map or pids.max. */
int write_file(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Read up to size-1 bytes of a small file, NUL-terminated, newline removed. */
int read_file(const char *path, char *buf, size_t size);
/* The number after "key" in a file of "key value" lines, such as
 * memory.events or cpu.stat; -1 with errno ENODATA if the key is absent. */
int read_key(const char *path, const char *key, long long *value);

/* ---- mounts (mount.c) ---- */

/* Make the mount that dir (an O_PATH fd) is on read-only, nosuid and nodev,
 * with every mount below it: :ro must hold for the whole volume. */
void make_read_only(int dir);
/* Remount top and every mount below it read-only, one at a time: what
 * mount_setattr(2) with AT_RECURSIVE does in one call from Linux 5.12. */
void remount_tree_read_only(const char *top);
/* Bind the host's directory host, with every mount below it, on path in
 * the new root (the working directory), read-only: without root, for what
 * only root may mount afresh, such as sysfs. */
void bind_read_only(const char *host, const char *path);

/* ---- the tool's lock files (state.c) ---- */

/* The state directory, /run/containers-from-scratch for root (the header
 * of state.c says where for anyone else): mode 0700, the user's alone.
 * state_dir() opens it, making it if create is set; -1 if it is absent. */
int state_dir(int create);
/* Remove the state directory if it is empty. */
void remove_state_dir(void);
/* Lock the file name in the state directory, made if create is set, and
 * return its descriptor.  A lock another run holds is tried again for up
 * to wait_ms: then -2 (errno EWOULDBLOCK).  -1 if create is not set and
 * there is no such file. */
int take_lock(const char *name, int wait_ms, int create);
/* Remove a lock file we hold, release it, and the state directory if it is
 * now empty. */
void drop_lock(const char *name, int fd);

/* ---- the new root of stages 4 and 5 (root.c) ---- */

/* "/proc/self/fd/N": a path to what fd N is open on, even where a mount
 * now covers its old name. */
const char *fd_path(int fd, char *buf, size_t size);
/* Open the mount point path inside the new root (the working directory),
 * making it and its parents if missing, like mkdir -p, without following
 * any symlink out of the root.  Dies if it is not a real directory.
 * Returns an O_PATH descriptor. */
int open_in_root(const char *path);

/* --layer DIR: the directories the tool made, and its lock on DIR. */
struct layer {
	const char *dir; /* NULL: no --layer */
	int lock;	 /* a lock file in the state directory, or -1 */
	char lock_name[32];
	int made[3]; /* DIR, DIR/upper, DIR/work: new in this run */
};
/* Make DIR, DIR/upper and DIR/work where missing, and lock DIR: exits 125
 * if another container uses it.  Every run, with or without --layer, first
 * removes the unused layers of runs that were killed. */
void make_layer(struct layer *layer, const char *dir);
/* At the end of the run: remove what make_layer() made, if the command
 * never started (started is 0) or left DIR/upper empty; release DIR. */
void finish_layer(struct layer *layer, int started);

/* ---- the default writable layer of stages 4 and 5 (layer.c) ---- */

/* STATE/layers/ctr-PID, on disk, locked while the tool runs. */
struct scratch_layer {
	char dir[PATH_MAX]; /* "": none (--layer DIR, or --tmpfs-layer) */
	char base_path[PATH_MAX];
	int base;   /* STATE/layers */
	int lock;   /* dir, locked */
	int userns; /* rootless: the container's user namespace, or -1 */
	const char *options; /* for the overlay: ",volatile" or "" */
};
/* Make the layer (DIR/upper, DIR/work), unless opts asks for --layer or
 * --tmpfs-layer; first remove the layers of tools killed with SIGKILL. */
struct options;
void make_scratch_layer(struct scratch_layer *s, const struct options *opts);
/* Rootless: hold on to the user namespace of the container pid, whose
 * root may remove the files of every id it maps. */
void keep_layer_owner(struct scratch_layer *s, pid_t pid);
/* Remove it and all it holds; warns rather than dies. */
void remove_scratch_layer(struct scratch_layer *s);

/* ---- the command line (cli.c, parse.c) ---- */

struct volume {
	char *host;	 /* absolute, resolved host directory */
	char *container; /* absolute path inside the container */
	int read_only;
};

struct options {
	const char *hostname;
	int init;
	char *rootfs;	 /* resolved; NULL means the default image */
	char *layer;	 /* keep the writable layer here; NULL: discard */
	int tmpfs_layer; /* the discarded layer is a tmpfs, not on disk */
	struct volume volumes[MAX_VOLUMES];
	int nvolumes;
	long pids_limit;
	long long memory;  /* bytes */
	long cpu_quota_us; /* per cpu_period_us */
	long cpu_period_us;
	const char *name;      /* NULL: a unique name is made up */
	int tty;	       /* -t, or an interactive run: a pty of its own */
	int verbose;	       /* --verbose: trace each step */
	int rootless;	       /* the tool is not root: a user namespace too */
	int setgroups_allowed; /* --setgroups allow */
	char **command;
};

/*
 * Parse "container run [OPTIONS] [--] COMMAND [ARG...]" for the given stage.
 * Handles --help and --version itself.  Every value is checked here, before
 * anything is created; a bad one exits 125 with one line on stderr.
 */
void parse_args(int argc, char **argv, int stage, void (*usage)(void),
		struct options *opts);
/* The OPTIONS, SIGNALS, CGROUPS and EXIT STATUS sections of --help for the
 * given stage, from the table in cli.c; print_usage() prints the rest. */
void print_options(int stage);
/* --help: NAME (stage's directory and summary), SYNOPSIS, DESCRIPTION (the
 * namespaces of clone_flags, then description), OPTIONS, SEE ALSO. */
void print_usage(int stage, const char *summary, int clone_flags,
		 const char *description, const char *see_also);
/* The --verbose line for a clone with flags: "clone with CLONE_NEWUTS |
 * CLONE_NEWPID: new UTS and PID namespaces". */
void trace_clone(int flags);

/* The image stage 4 uses without --rootfs: rootfs/ beside the stage dirs. */
const char *default_rootfs(void);

/* parse.c: strict number and size parsers; -1 with errno set on error. */
int parse_long(const char *s, long min, long max, long *out);
int parse_size(const char *s, long long *out);
int parse_cpus(const char *s, long period_us, long *quota_us);
/* The other way, for messages: 33554432 -> "32M". */
const char *format_size(long long bytes, char *buf, size_t size);
/* Is word one of the space-separated words of list ("cpu memory pids")? */
int has_word(const char *list, const char *word);

/* ---- processes (proc.c) ---- */

/* Is name "ctr-PID" with PID a live process?  The cheap test, before any
 * lock, that a cgroup or a layer of that default name is still in use. */
int named_owner_alive(const char *name);

/* Close every descriptor from 3 up, so the container holds only 0, 1, 2. */
void close_other_fds(void);
/* Test-only: is feature named in $CONTAINER_FORCE_FALLBACK ("clone3
 * mount_setattr")?  Lets the suites run the fallback for an old kernel. */
int fallback_forced(const char *feature);

/* Top of a fresh stack for clone(2); stacks grow down on every Linux port. */
void *alloc_stack(size_t size);
/* The signals the tool forwards to the container, plus SIGCHLD. */
void forwarded_signals(sigset_t *set);
/* The first line of every stage's main(): block the signals the parent
 * forwards, so none is lost before clone, and every other one that would
 * end the tool mid-setup or mid-cleanup (SIGPIPE among them).  *old is the
 * caller's mask, for the child to restore before exec. */
void block_signals(sigset_t *old);
/* Send sig to the container; a second SIGINT or SIGTERM becomes SIGKILL. */
void forward_signal(pid_t child, int sig, int *stops);
/* Wait for the container, forwarding signals; return its exit status. */
int supervise(pid_t child);
/* "sh -c echo hi", for traces; truncated if long. */
const char *command_line(char **argv);
/* Turn a wait(2) status into the tool's exit status (128+N for a signal). */
int exit_status(int wstatus);
/* execvp the command; on failure exit 127 (not found) or 126. */
noreturn void exec_command(char **argv);

/* ---- a terminal of the container's own (pty.c) ---- */

/* The master of the container's pseudo-terminal, -1 without one: once
 * set, supervise() relays it to the user's terminal. */
extern int terminal_master;
/* -t, or both stdin and stdout are terminals: an interactive run. */
int wants_terminal(const struct options *opts);
/* Stages 1-3: a new pseudo-terminal on the host, its size the user's. */
void open_host_pty(int *master, int *slave);
/* The child's side, after setsid(): make slave its controlling terminal
 * and its fds 0, 1 and 2. */
void attach_terminal(int slave);
/* Pass a descriptor over a unix socket (SCM_RIGHTS), and take it; -1 if
 * the sender closed its end first. */
void send_fd(int sock, int fd);
int receive_fd(int sock);
/* supervise() with a terminal: relay it both ways with the user's in raw
 * mode, forward SIGWINCH's size, stop with the container on Ctrl-Z. */
int relay_terminal(pid_t child);

/* ---- rootless mode (userns.c) ---- */

/* Does this process run without root: not uid 0, or uid 0 of a user
 * namespace that is not the host's (make grade's sandbox)?  For the tool's
 * own side only (parse_args(), common/layer.c): the child, root in its user
 * namespace, reads opts->rootless, which parse_args() set before the clone. */
int rootless(void);
/* CLONE_NEWUSER without root, 0 as root: or'ed into every stage's clone. */
int user_namespace_flag(const struct options *opts);
/* A stage's map_user_to_root(), where the caller has subordinate ids and
 * newuidmap(1) and newgidmap(1) are installed: map root to uid and gid and
 * ids 1 and up to the ranges, and return 1; as root of a user namespace
 * that is not the host's (uid 0), map every id of ours to the same id, and
 * return 1; else return 0, for the stage to
 * write the one-line maps (and exit 125 if setgroups_allowed: that needs
 * the helpers). */
int map_subordinate_ids(pid_t pid, uid_t uid, gid_t gid, int setgroups_allowed);
/* The child's side, after its last mount: without root, move into a new
 * user and mount namespace whose copies of our mounts are locked, so that
 * root inside cannot make a :ro volume writable again.  It asks the tool
 * for the new namespace's maps on sync_fd. */
void lock_mounts(const struct options *opts, int sync_fd);
/* The tool's side, after the go-ahead: without root, wait for the child's
 * word on sync_fd, map its inner user namespace, and answer. */
void map_inner_namespace(const struct options *opts, pid_t pid, int sync_fd);
/* The hint for a failed clone, from errno: the reasons a user namespace is
 * refused to a user (rootless); NULL as root. */
const char *clone_hint(int rootless);
/* Bind the host's /dev/name onto a new empty file name in dev (an fd of
 * the container's /dev): mknod(2) is refused in a user namespace. */
void bind_host_device(int dev, const char *name);

#endif
