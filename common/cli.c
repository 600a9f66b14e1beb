/*
 * cli.c - the command-line contract shared by every stage:
 *
 *	container run [OPTIONS] [--] COMMAND [ARG...]
 *	container --help | --version
 *
 * Every stage knows every option, so that an option from a later stage gets
 * a clear "introduced in stage N" instead of "unknown option".  All values
 * are checked here, before the stage creates anything: a bad one exits 125
 * with one line on stderr.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define PIDS_LIMIT_MAX	 4194304L    /* the kernel's PID_MAX_LIMIT */
#define MEMORY_MIN	 (6LL << 20) /* docker's minimum too */
#define CPU_PERIOD_US	 100000L     /* docker's period: 100 ms */
#define NAME_MAX_LEN	 64
#define HOSTNAME_MAX_LEN 64 /* HOST_NAME_MAX on Linux */

#define DEFAULT_PIDS_LIMIT 20
#define DEFAULT_MEMORY	   (500LL << 20)
#define DEFAULT_CPUS	   2

enum {
	OPT_HOSTNAME = 256,
	OPT_INIT,
	OPT_SETGROUPS,
	OPT_ROOTFS,
	OPT_LAYER,
	OPT_TMPFS_LAYER,
	OPT_PIDS_LIMIT,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_NAME,
	OPT_VERBOSE,
	OPT_VERSION,
};

/*
 * Every option, described once: getopt's table, the "introduced in stage N"
 * check and the OPTIONS section of --help all come from here.  A help text
 * is one source line per output line; "%s" in it stands for the option's
 * default (see option_default()).
 */
struct option_doc {
	const char *name;
	int val;	  /* what getopt_long returns for it */
	const char *arg;  /* the value's name in --help; NULL: no value */
	int stage;	  /* the stage that introduces it */
	const char *help; /* '\n' between lines */
	int more_stage;	  /* from this stage on, the help goes on with... */
	const char *more; /* ...these lines */
};

static const struct option_doc option_docs[] = {
	{.name = "hostname",
	 .val = OPT_HOSTNAME,
	 .arg = "NAME",
	 .stage = 1,
	 .help = "the container's hostname, 1 to 64 characters\n"
		 "(default: %s)"},
	{.name = "setgroups",
	 .val = OPT_SETGROUPS,
	 .arg = "allow|deny",
	 .stage = 1,
	 .help = "without root, with subordinate ids: allow lets\n"
		 "root in the container call setgroups(2), and so\n"
		 "drop the caller's groups (default: %s)"},
	{.name = "init",
	 .val = OPT_INIT,
	 .stage = 2,
	 .help = "run a minimal init as PID 1; it runs COMMAND as\n"
		 "PID 2, forwards signals and reaps zombies"},
	{.name = "rootfs",
	 .val = OPT_ROOTFS,
	 .arg = "DIR",
	 .stage = 4,
	 .help = "the image (default: %s)"},
	{.name = "layer",
	 .val = OPT_LAYER,
	 .arg = "DIR",
	 .stage = 4,
	 .help = "keep the writable layer in DIR: the changes in\n"
		 "DIR/upper, overlayfs's scratch in DIR/work; reuse\n"
		 "it on the next run. Default: a directory of its\n"
		 "own on disk, removed at exit"},
	{.name = "tmpfs-layer",
	 .val = OPT_TMPFS_LAYER,
	 .stage = 4,
	 .help = "keep the discarded writable layer in memory, a\n"
		 "1 GiB tmpfs: faster, but what the container writes\n"
		 "is memory (in stage 5, counted in --memory)"},
	{.name = "volume",
	 .val = 'v',
	 .arg = "HOST_DIR:CONTAINER_DIR[:ro]",
	 .stage = 4,
	 .help = "bind-mount a host directory into the container,\n"
		 "read-only with :ro (repeatable, up to %s)"},
	{.name = "pids-limit",
	 .val = OPT_PIDS_LIMIT,
	 .arg = "N",
	 .stage = 5,
	 .help = "at most N processes and threads at once (default:\n"
		 "%s); one more fork fails with EAGAIN"},
	{.name = "memory",
	 .val = OPT_MEMORY,
	 .arg = "SIZE",
	 .stage = 5,
	 .help = "at most SIZE of memory, and no swap beyond it\n"
		 "(default: %s); suffix k, m or g: powers of 1024.\n"
		 "Over it, the kernel's OOM killer kills a process"},
	{.name = "cpus",
	 .val = OPT_CPUS,
	 .arg = "X",
	 .stage = 5,
	 .help = "at most X CPUs' worth of time, such as 2 or 0.5\n"
		 "(default: %s)"},
	{.name = "name",
	 .val = OPT_NAME,
	 .arg = "NAME",
	 .stage = 5,
	 .help = "the container's name, and its cgroup's (default:\n"
		 "ctr-PID, PID being the tool's); one running\n"
		 "container per name"},
	{.name = "tty",
	 .val = 't',
	 .stage = 1,
	 .help = "give the container a pseudo-terminal of its own,\n"
		 "even if stdin or stdout is not a terminal (the\n"
		 "default when both are)"},
	{.name = "interactive",
	 .val = 'i',
	 .stage = 1,
	 .help = "keep stdin open: it always is; accepted so that\n"
		 "docker's -it works"},
	{.name = "verbose",
	 .val = OPT_VERBOSE,
	 .stage = 1,
	 .help = "trace each isolation step on stderr",
	 .more_stage = 5,
	 .more = "and the path of each cgroup made"},
	{.name = "help",
	 .val = 'h',
	 .stage = 1,
	 .help = "print this help and exit"},
	{.name = "version",
	 .val = OPT_VERSION,
	 .stage = 1,
	 .help = "print the version and exit"},
};

#define NOPTIONS (sizeof(option_docs) / sizeof(option_docs[0]))

/*
 * The sections of --help after OPTIONS, one output line per entry, each
 * printed in the stages from..to.
 */
static const struct help_line {
	const char *section;
	int from, to;
	const char *text;
} help_lines[] = {
	{"SIGNALS", 2, 5,
	 "Signals sent to the tool (kill PID) are forwarded to the container:"},
	{"SIGNALS", 2, 5,
	 "SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2. PID 1 ignores"},
	{"SIGNALS", 2, 5,
	 "a signal it has no handler for, so a second SIGINT or SIGTERM sent to"},
	{"SIGNALS", 2, 5,
	 "the tool kills the container with SIGKILL. Ctrl-C in a terminal goes"},
	{"SIGNALS", 2, 5,
	 "to the container through its own terminal, not to the tool; a PID 1"},
	{"SIGNALS", 2, 5,
	 "without a SIGINT handler ignores it (use --init), and ignores Ctrl-Z."},
	{"CGROUPS", 5, 5,
	 "The container's cgroup is /sys/fs/cgroup/container/NAME on cgroup v2,"},
	{"CGROUPS", 5, 5,
	 "or /sys/fs/cgroup/CONTROLLER/container/NAME for each of pids, memory"},
	{"CGROUPS", 5, 5,
	 "and cpu on v1. It is removed when the container ends. A tool killed"},
	{"CGROUPS", 5, 5, "with SIGKILL cannot remove it: the next run does."},
	{"EXIT STATUS", 1, 4,
	 "The command's own status; 128+N if it was killed by signal N;"},
	{"EXIT STATUS", 5, 5,
	 "The command's own status; 128+N if it was killed by signal N, so"},
	{"EXIT STATUS", 5, 5,
	 "137 when the memory limit killed it (the tool then says so);"},
	{"EXIT STATUS", 1, 5,
	 "125 if the tool failed; 126 if the command cannot be executed;"},
	{"EXIT STATUS", 1, 3, "127 if it was not found."},
	{"EXIT STATUS", 4, 5, "127 if it was not found in the image."},
};

static const char *const stage_dirs[] = {
	NULL,		"stage1-uts",	 "stage2-pid",
	"stage3-mount", "stage4-rootfs", "stage5-cgroups",
};

static const struct option_doc *find_option(int val)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (option_docs[i].val == val)
			return &option_docs[i];
	diex("no option %d in the table", val); /* a bug in this file */
}

/* The value an option has when it is not given, as --help shows it. */
static const char *option_default(int val)
{
	static char buf[32];

	switch (val) {
	case OPT_HOSTNAME:
		return DEFAULT_HOSTNAME;
	case OPT_SETGROUPS:
		return "deny";
	case OPT_ROOTFS:
		return default_rootfs();
	case 'v':
		snprintf(buf, sizeof(buf), "%d", MAX_VOLUMES);
		return buf;
	case OPT_PIDS_LIMIT:
		snprintf(buf, sizeof(buf), "%d", DEFAULT_PIDS_LIMIT);
		return buf;
	case OPT_MEMORY:
		return format_size(DEFAULT_MEMORY, buf, sizeof(buf));
	case OPT_CPUS:
		snprintf(buf, sizeof(buf), "%d", DEFAULT_CPUS);
		return buf;
	}
	return "";
}

/* Print help text line by line, each indented by indent, "%s" replaced. */
static void print_help_text(const char *text, const char *dflt, int indent,
			    int first_indent)
{
	while (*text) {
		size_t len = strcspn(text, "\n");
		const char *mark = strstr(text, "%s");

		printf("%*s", first_indent, "");
		if (mark && mark < text + len)
			printf("%.*s%s%.*s\n", (int)(mark - text), text, dflt,
			       (int)(text + len - mark - 2), mark + 2);
		else
			printf("%.*s\n", (int)len, text);
		text += len + (text[len] == '\n');
		first_indent = indent;
	}
}

void print_options(int stage)
{
	const char *section = "OPTIONS";

	printf("\nOPTIONS\n");
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_doc *o = &option_docs[i];
		char head[64];
		int len, pad;

		if (o->stage > stage)
			continue;
		len = 0;
		if (o->val < OPT_HOSTNAME) /* a short option too: -v, -h */
			len = snprintf(head, sizeof(head), "-%c, ", o->val);
		snprintf(head + len, sizeof(head) - len, "--%s%s%s", o->name,
			 o->arg ? " " : "", o->arg ? o->arg : "");
		printf("    %s", head);
		/* Help starts in column 21; a longer head gets a line of
		 * its own. */
		pad = 17 - (int)strlen(head);
		if (pad < 1) {
			printf("\n");
			pad = 21;
		}
		print_help_text(o->help, option_default(o->val), 21, pad);
		if (o->more && stage >= o->more_stage)
			print_help_text(o->more, "", 21, 21);
	}
	for (size_t i = 0; i < sizeof(help_lines) / sizeof(help_lines[0]);
	     i++) {
		const struct help_line *l = &help_lines[i];

		if (stage < l->from || stage > l->to)
			continue;
		if (strcmp(section, l->section) != 0) {
			section = l->section;
			printf("\n%s\n", section);
		}
		printf("    %s\n", l->text);
	}
}

/* The namespaces a stage's clone(2) may ask for: its flag, and its name. */
static const struct {
	int flag;
	const char *flag_name, *name;
} namespaces[] = {
	{CLONE_NEWUTS, "CLONE_NEWUTS", "UTS"},
	{CLONE_NEWPID, "CLONE_NEWPID", "PID"},
	{CLONE_NEWNS, "CLONE_NEWNS", "mount"},
	{CLONE_NEWCGROUP, "CLONE_NEWCGROUP", "cgroup"},
	{CLONE_NEWIPC, "CLONE_NEWIPC", "IPC"},
	{CLONE_NEWNET, "CLONE_NEWNET", "network"},
	{CLONE_NEWUSER, "CLONE_NEWUSER", "user"},
};

#define NNAMESPACES (sizeof(namespaces) / sizeof(namespaces[0]))

/* "a new UTS namespace", "new UTS and PID namespaces", "new UTS, PID and
 * mount namespaces": the namespaces in flags, in words, in buf. */
static const char *namespace_words(int flags, char *buf, size_t size)
{
	size_t n = 0, len, total = 0;

	for (size_t i = 0; i < NNAMESPACES; i++)
		total += (flags & namespaces[i].flag) != 0;
	if (total == 0)
		return "no new namespace";
	len = (size_t)snprintf(buf, size, "%s", total == 1 ? "a new" : "new");
	for (size_t i = 0; i < NNAMESPACES && len < size; i++) {
		if (!(flags & namespaces[i].flag))
			continue;
		n++;
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
					n == 1	     ? " "
					: n == total ? " and "
						     : ", ",
					namespaces[i].name);
	}
	if (len < size)
		snprintf(buf + len, size - len, " namespace%s",
			 total == 1 ? "" : "s");
	return buf;
}

/* The clone flags by name, as a stage's source spells them. */
void trace_clone(int flags)
{
	char names[160] = "0", words[128];
	size_t len = 0;

	for (size_t i = 0; i < NNAMESPACES && len < sizeof(names); i++)
		if (flags & namespaces[i].flag)
			len += (size_t)snprintf(
				names + len, sizeof(names) - len, "%s%s",
				len ? " | " : "", namespaces[i].flag_name);
	trace("clone with %s: %s", names,
	      namespace_words(flags, words, sizeof(words)));
}

/*
 * --help, in man-page form.  The stage gives its summary (NAME), its
 * description and its SEE ALSO, one source line per output line ('\n'
 * between lines); the namespaces come from its clone flags, so that no
 * step rewrites a list of them.
 */
void print_usage(int stage, const char *summary, int clone_flags,
		 const char *description, const char *see_also)
{
	char words[128];

	printf("NAME\n    %s/container - ", stage_dirs[stage]);
	print_help_text(summary, "", 4, 0);
	printf("\n"
	       "SYNOPSIS\n"
	       "    container run [OPTIONS] [--] COMMAND [ARG...]\n"
	       "    container --help | --version\n"
	       "\n"
	       "DESCRIPTION\n"
	       "    Stage %d of containers from scratch: %s.\n",
	       stage, namespace_words(clone_flags, words, sizeof(words)));
	print_help_text(description, "", 4, 4);
	print_options(stage);
	printf("\nSEE ALSO\n");
	print_help_text(see_also, "", 4, 4);
}

/* RFC 1123: letters, digits, '-' and '.'; sethostname(2) itself would take
 * a newline or a '/', which then breaks every prompt and log line. */
static void check_hostname(const char *s)
{
	size_t len = strlen(s);
	int ok = len >= 1 && len <= HOSTNAME_MAX_LEN;

	for (size_t i = 0; ok && i < len; i++)
		ok = isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.';
	if (!ok)
		diex("invalid --hostname '%.80s': use 1 to %d of letters, digits, '-' and '.'",
		     s, HOSTNAME_MAX_LEN);
}

/*
 * Docker's rule, which also keeps '/', '.' and '..' out of cgroup paths.
 * The name becomes a directory among the cgroup's own control files, so it
 * must not be one of them: "tasks", "cgroup.procs", "pids.max"...  Every
 * control file of v1 or v2 is one of the names below, or a controller's
 * name (or "cgroup") followed by a dot.
 */
static void check_name(const char *s)
{
	static const char *const files[] = {"tasks", "notify_on_release",
					    "release_agent"};
	static const char *const prefixes[] = {
		"cgroup",  "cpu",      "cpuacct",    "cpuset",	"memory",
		"pids",	   "io",       "blkio",	     "devices", "freezer",
		"net_cls", "net_prio", "perf_event", "hugetlb", "rdma",
		"misc",	   "memsw"};
	size_t len = strlen(s), plen;
	int ok =
		len >= 1 && len <= NAME_MAX_LEN && isalnum((unsigned char)s[0]);

	for (size_t i = 1; ok && i < len; i++)
		ok = isalnum((unsigned char)s[i]) || strchr("_.-", s[i]);
	if (!ok)
		diex("invalid --name '%.80s': use 1 to %d of [a-zA-Z0-9_.-], starting with a letter or digit",
		     s, NAME_MAX_LEN);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(s, files[i]) == 0)
			diex("invalid --name '%s': it is the name of a cgroup control file",
			     s);
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		plen = strlen(prefixes[i]);
		if (strncmp(s, prefixes[i], plen) == 0 && s[plen] == '.')
			diex("invalid --name '%s': names starting with '%s.' are cgroup control files",
			     s, prefixes[i]);
	}
}

/* A directory that must exist on the host; returns its resolved path. */
static char *existing_dir(const char *what, const char *path)
{
	struct stat st;
	char *real;

	if (path[0] == '\0')
		diex("invalid %s '': the path is empty", what);
	real = realpath(path, NULL);
	if (real == NULL)
		die("%s %s", what, path);
	if (stat(real, &st) == -1)
		die("%s %s", what, path);
	if (!S_ISDIR(st.st_mode))
		diex("%s %s: not a directory", what, path);
	return real;
}

/* Absolute, and not the root itself: no "." or ".." part, which could climb
 * out of the root or name it ("/.", "//"). */
static int bad_container_path(const char *p)
{
	size_t len;

	if (p[0] != '/' || p[strspn(p, "/")] == '\0' ||
	    strlen(p) >= PATH_MAX / 2)
		return 1;
	for (const char *c = p;; c += len) {
		c += strspn(c, "/");
		if (*c == '\0')
			return 0;
		len = strcspn(c, "/");
		if ((len == 1 && c[0] == '.') ||
		    (len == 2 && strncmp(c, "..", 2) == 0))
			return 1;
	}
}

/* "//a//b/" -> "/a/b", so that two spellings of one path compare equal. */
static void normalize_path(char *p)
{
	char *out = p;

	for (const char *in = p; *in; in++)
		if (*in != '/' || out == p || out[-1] != '/')
			*out++ = *in;
	if (out > p + 1 && out[-1] == '/')
		out--;
	*out = '\0';
}

/* HOST_DIR:CONTAINER_DIR[:ro|:rw] */
static void add_volume(struct options *opts, const char *spec)
{
	char *copy, *host, *ctr, *mode;
	struct volume *v;

	if (opts->nvolumes == MAX_VOLUMES)
		diex("too many --volume options: at most %d", MAX_VOLUMES);
	copy = strdup(spec);
	if (copy == NULL)
		die("strdup");
	host = copy;
	ctr = strchr(copy, ':');
	if (ctr == NULL)
		diex("invalid --volume '%.200s': expected HOST_DIR:CONTAINER_DIR[:ro]",
		     spec);
	*ctr++ = '\0';
	mode = strchr(ctr, ':');
	if (mode)
		*mode++ = '\0';
	if (host[0] == '\0' || ctr[0] == '\0')
		diex("invalid --volume '%.200s': expected HOST_DIR:CONTAINER_DIR[:ro]",
		     spec);
	if (mode && strcmp(mode, "ro") != 0 && strcmp(mode, "rw") != 0)
		diex("invalid --volume '%.200s': mode must be ro or rw", spec);
	if (bad_container_path(ctr))
		diex("invalid --volume '%.200s': the container path must be absolute, not / and without '.' or '..'",
		     spec);
	normalize_path(ctr);
	/* /dev/shm may be a host directory: shared memory with the host. */
	if (path_is_under(ctr, "/proc") ||
	    (path_is_under(ctr, "/dev") && strcmp(ctr, "/dev/shm") != 0))
		diex("invalid --volume '%.200s': the container's /proc and /dev are its own, not a place for a volume (but /dev/shm may be one)",
		     spec);
	for (int i = 0; i < opts->nvolumes; i++)
		if (strcmp(opts->volumes[i].container, ctr) == 0)
			diex("invalid --volume '%.200s': another volume is already mounted on %s",
			     spec, ctr);
	v = &opts->volumes[opts->nvolumes++];
	v->host = existing_dir("--volume host directory", host);
	v->container = ctr;
	v->read_only = mode && strcmp(mode, "ro") == 0;
}

/* --layer DIR: DIR may be new, but its parent must exist.  Nothing is
 * created yet: that waits until every option has been checked. */
static char *layer_dir(const char *path)
{
	char *copy1, *copy2, *parent, *base, *real;
	struct stat st;

	if (path[0] == '\0')
		diex("invalid --layer '': the path is empty");
	if (stat(path, &st) == 0)
		return existing_dir("--layer", path);
	if (errno != ENOENT)
		die("--layer %s", path);
	copy1 = strdup(path);
	copy2 = strdup(path);
	if (copy1 == NULL || copy2 == NULL)
		die("strdup");
	base = basename(copy1);
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		diex("invalid --layer '%.200s'", path);
	parent = existing_dir("--layer parent directory", dirname(copy2));
	if (asprintf(&real, "%s/%s", strcmp(parent, "/") ? parent : "", base) ==
	    -1)
		die("asprintf");
	free(parent);
	free(copy1);
	free(copy2);
	return real;
}

const char *default_rootfs(void)
{
	static char path[PATH_MAX];
	char exe[PATH_MAX];
	ssize_t len;

	/* <dir of this binary>/../rootfs: where `make` builds the image, and
	 * where `make install` puts it, whatever the working directory. */
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len == -1)
		die("readlink /proc/self/exe");
	exe[len] = '\0';
	snprintf(path, sizeof(path), "%s/../rootfs", dirname(exe));
	char *real = realpath(path, NULL); /* tidier in --help, if it exists */
	if (real != NULL) {
		snprintf(path, sizeof(path), "%s", real);
		free(real);
	}
	return path;
}

/* How many one-letter insertions, deletions or changes turn a into b. */
static size_t edit_distance(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b), row[NAME_MAX_LEN + 1];

	if (blen > NAME_MAX_LEN)
		return blen;
	for (size_t j = 0; j <= blen; j++)
		row[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		size_t diag = row[0], up;

		row[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			up = row[j];
			row[j] = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < row[j])
				row[j] = up + 1;
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			diag = up;
		}
	}
	return row[blen];
}

/* The option a mistyped "--pids-limt" or "--mem=1G" was meant to be: one
 * it is the start of, or else the nearest at most two edits away. */
static const char *closest_option(const char *arg)
{
	const char *best = NULL;
	size_t len, best_dist = 3;

	if (strncmp(arg, "--", 2) != 0)
		return NULL;
	arg += 2;
	len = strcspn(arg, "=");
	if (len == 0)
		return NULL;
	for (size_t i = 0; i < NOPTIONS; i++) {
		const char *name = option_docs[i].name;
		size_t dist = strncmp(name, arg, len) == 0
				      ? 0
				      : edit_distance(arg, len, name);

		if (dist < best_dist) {
			best = name;
			best_dist = dist;
		}
	}
	return best;
}

/* Misuse: one line, and a pointer to --help. */
static noreturn void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diex("%s; try --help", msg);
}

static void set_option(struct options *opts, int opt, const char *val)
{
	const char *name = find_option(opt)->name;
	struct stat st;

	/* "--hostname --verbose" would otherwise name the host "--verbose". */
	if (val && val[0] == '-' && opt != OPT_PIDS_LIMIT &&
	    opt != OPT_MEMORY && opt != OPT_CPUS)
		diex("option --%s needs a value, but got '%.80s', which looks like an option",
		     name, val);

	switch (opt) {
	case OPT_HOSTNAME:
		check_hostname(val);
		opts->hostname = val;
		break;
	case OPT_VERBOSE:
		opts->verbose = 1;
		break;
	case OPT_INIT:
		opts->init = 1;
		break;
	case 't':
		opts->tty = 1;
		break;
	case 'i':
		break;
	case OPT_SETGROUPS:
		if (strcmp(val, "allow") != 0 && strcmp(val, "deny") != 0)
			diex("invalid --setgroups '%.80s': must be allow or deny",
			     val);
		opts->setgroups_allowed = strcmp(val, "allow") == 0;
		break;
	case OPT_ROOTFS:
		free(opts->rootfs);
		if (stat(val, &st) == 0 && S_ISREG(st.st_mode))
			diex("invalid --rootfs '%.200s': a file, not an image directory; unpack a tarball with 'make import TAR=%.200s DEST=DIR', then give --rootfs DIR",
			     val, val);
		opts->rootfs = existing_dir("--rootfs", val);
		/* Stage 4 covers the image's path with a scratch tmpfs, and a
		 * mount on top of "/" is not seen through "/". */
		if (strcmp(opts->rootfs, "/") == 0)
			diex("invalid --rootfs '%.80s': the host's own / cannot be the image; build one with 'make rootfs'",
			     val);
		break;
	case 'v':
		add_volume(opts, val);
		break;
	case OPT_LAYER:
		free(opts->layer);
		opts->layer = layer_dir(val);
		if (strlen(opts->layer) + sizeof("/upper") > PATH_MAX)
			diex("invalid --layer '%.80s...': path too long", val);
		break;
	case OPT_TMPFS_LAYER:
		opts->tmpfs_layer = 1;
		break;
	case OPT_PIDS_LIMIT:
		if (parse_long(val, 1, PIDS_LIMIT_MAX, &opts->pids_limit) == -1)
			diex("invalid --pids-limit '%.80s': must be a whole number from 1 to %ld",
			     val, PIDS_LIMIT_MAX);
		break;
	case OPT_MEMORY:
		if (parse_size(val, &opts->memory) == -1 ||
		    opts->memory < MEMORY_MIN)
			diex("invalid --memory '%.80s': must be a size such as 500M (suffix b, k, m or g), at least 6M",
			     val);
		break;
	case OPT_CPUS:
		if (parse_cpus(val, CPU_PERIOD_US, &opts->cpu_quota_us) == -1)
			diex("invalid --cpus '%.80s': must be a number of CPUs from 0.01 to 1024, such as 2 or 0.5",
			     val);
		break;
	case OPT_NAME:
		check_name(val);
		opts->name = val;
		break;
	}
}

void parse_args(int argc, char **argv, int stage, void (*usage)(void),
		struct options *opts)
{
	static struct option long_options[NOPTIONS + 1];
	const struct option_doc *o;
	int opt;

	for (size_t i = 0; i < NOPTIONS; i++)
		long_options[i] = (struct option){
			option_docs[i].name,
			option_docs[i].arg ? required_argument : no_argument,
			NULL, option_docs[i].val};

	memset(opts, 0, sizeof(*opts));
	opts->hostname = DEFAULT_HOSTNAME;
	opts->pids_limit = DEFAULT_PIDS_LIMIT;
	opts->memory = DEFAULT_MEMORY;
	opts->cpu_period_us = CPU_PERIOD_US;
	opts->cpu_quota_us = DEFAULT_CPUS * CPU_PERIOD_US;
	/* Decided here, in the tool, once: inside its user namespace the
	 * child is root, and must still know that the tool is not. */
	opts->rootless = rootless();
	/* Root of a user namespace that is not the host's may already drop
	 * its groups itself: denying setgroups below it takes nothing away,
	 * and would break a user switch inside (--setgroups deny still can). */
	opts->setgroups_allowed = opts->rootless && geteuid() == 0;

	if (argc < 2)
		usage_error("missing subcommand: expected 'run'");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage();
		exit(0);
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("container (%s) %s\n", stage_dirs[stage], VERSION);
		exit(0);
	}
	if (strcmp(argv[1], "run") != 0)
		usage_error("unknown subcommand '%.80s': expected 'run'",
			    argv[1]);

	/* Parse after "run"; '+' stops at COMMAND, so its own options stay
	 * its own: container run sh -c 'echo $$'. */
	argc--;
	argv++;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+:v:hti", long_options, NULL)) !=
	       -1) {
		if (opt == 'h') {
			usage();
			exit(0);
		}
		if (opt == OPT_VERSION) {
			printf("container (%s) %s\n", stage_dirs[stage],
			       VERSION);
			exit(0);
		}
		/* In a cluster such as -xq, getopt has not moved past the
		 * argument yet: name the letter, from optopt.  optopt is 0
		 * for an unknown long option, which is the argument itself. */
		if (opt == '?' && optopt != 0)
			usage_error("unknown option '-%c'", optopt);
		if (opt == '?' && closest_option(argv[optind - 1]))
			usage_error(
				"unknown option '%.80s' (did you mean --%s?)",
				argv[optind - 1],
				closest_option(argv[optind - 1]));
		if (opt == '?')
			usage_error("unknown option '%.80s'", argv[optind - 1]);
		if (opt == ':')
			usage_error("option '%.80s' needs a value",
				    argv[optind - 1]);
		o = find_option(opt);
		if (o->stage > stage)
			diex("option --%s is introduced in stage %d (%s); this is stage %d (%s)",
			     o->name, o->stage, stage_dirs[o->stage], stage,
			     stage_dirs[stage]);
		set_option(opts, opt, optarg);
	}
	if (opts->layer && opts->tmpfs_layer)
		usage_error("--layer DIR and --tmpfs-layer exclude each other");
	if (optind >= argc)
		usage_error("missing COMMAND");
	if (argv[optind][0] == '\0')
		usage_error("empty COMMAND");
	opts->command = &argv[optind];
	opts->tty = wants_terminal(opts);

	if (stage >= 4 && opts->rootfs == NULL) {
		const char *image = default_rootfs();
		struct stat st;

		if (stat(image, &st) == -1 || !S_ISDIR(st.st_mode))
			diex("the default image %s is missing: build it with 'make rootfs', or give --rootfs DIR",
			     image);
		opts->rootfs = existing_dir("--rootfs", image);
	}
}
