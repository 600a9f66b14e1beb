/*
 * common.h - plumbing shared by every stage.
 *
 * Error reporting, writing small files, parsing the command line and its
 * values, the clone stack and the parent's wait-and-forward loop, the user
 * namespace's maps, and for stages 4 and 5 the safeguards around the new
 * root (opening a mount point inside it, read-only trees, --layer).  None
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

/* Set once by main(): "stage3", used as the prefix of --verbose traces. */
extern const char *trace_prefix;
extern int verbose;

/* Print "container: <what>: <strerror(errno)>" and exit 125. */
noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "container: <what>" and exit 125. */
noreturn void diex(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like die(), and add "(hint: ...)" for a failure with a well-known cause. */
noreturn void die_hint(const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Undo what the tool made before die() exits: one cleanup, run only in the
 * process that registered it, never in its clone children. */
void at_die(void (*cleanup)(void));
/* Print "container: <what>" and carry on. */
void warn_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* With --verbose, print "<stage>: <what>" on stderr. */
void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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
	int lock;
	int made[3]; /* DIR, DIR/upper, DIR/work */
};
/* Make DIR, DIR/upper and DIR/work where missing, and lock DIR: exits 125
 * if another container uses it.  Does nothing if dir is NULL. */
void make_layer(struct layer *layer, const char *dir);
/* A failed run leaves nothing behind: remove what make_layer() made. */
void remove_new_layer(const struct layer *layer);

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
	const char *name; /* NULL: a unique name is made up */
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
 * given stage, from the table in cli.c; a stage's usage() prints the rest. */
void print_options(int stage);

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

/* Close every descriptor from 3 up, so the container holds only 0, 1, 2. */
void close_other_fds(void);
/* Test-only: is feature named in $CONTAINER_FORCE_FALLBACK ("clone3
 * mount_setattr")?  Lets the suites run the fallback for an old kernel. */
int fallback_forced(const char *feature);

/* Top of a fresh stack for clone(2); stacks grow down on every Linux port. */
void *alloc_stack(size_t size);
/* The signals the tool forwards to the container, plus SIGCHLD. */
void forwarded_signals(sigset_t *set);
/* Block the signals the parent forwards, so none is lost before clone. */
void block_signals(sigset_t *old);
/* Make the child's own process group the terminal's foreground, if the
 * tool has the terminal; supervise() gives it back. */
void give_terminal(pid_t child);
/* Wait for the container, forwarding signals; return its exit status. */
int supervise(pid_t child);
/* "sh -c echo hi", for traces; truncated if long. */
const char *command_line(char **argv);
/* Turn a wait(2) status into the tool's exit status (128+N for a signal). */
int exit_status(int wstatus);
/* execvp the command; on failure exit 127 (not found) or 126. */
noreturn void exec_command(char **argv);

/* ---- rootless mode (userns.c) ---- */

/* Do we run without root, and so in a user namespace of our own? */
int rootless(void);
/* CLONE_NEWUSER without root, 0 as root: or'ed into every stage's clone. */
int user_namespace_flag(void);
/* The parent's side, after the clone and before the go-ahead: without
 * root, map root in the child's user namespace to our own uid and gid. */
void map_user_to_root(pid_t pid);
/* The hint for a failed clone, from errno: the reasons a user namespace is
 * refused to a user; NULL as root. */
const char *clone_hint(void);
/* Bind the host's /dev/name onto a new empty file name in dev (an fd of
 * the container's /dev): mknod(2) is refused in a user namespace. */
void bind_host_device(int dev, const char *name);

#endif
