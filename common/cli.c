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

enum {
	OPT_HOSTNAME = 256,
	OPT_INIT,
	OPT_ROOTFS,
	OPT_VOLUME,
	OPT_LAYER,
	OPT_PIDS_LIMIT,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_NAME,
	OPT_VERSION,
};

static const struct option long_options[] = {
	{"hostname", required_argument, NULL, OPT_HOSTNAME},
	{"verbose", no_argument, NULL, 'v'},
	{"init", no_argument, NULL, OPT_INIT},
	{"rootfs", required_argument, NULL, OPT_ROOTFS},
	{"volume", required_argument, NULL, OPT_VOLUME},
	{"layer", required_argument, NULL, OPT_LAYER},
	{"pids-limit", required_argument, NULL, OPT_PIDS_LIMIT},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"name", required_argument, NULL, OPT_NAME},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

static const char *const stage_dirs[] = {
	NULL,		"stage1-uts",	 "stage2-pid",
	"stage3-mount", "stage4-rootfs", "stage5-cgroups",
};

/* The stage that introduces an option. */
static int introduced_in(int opt)
{
	switch (opt) {
	case OPT_INIT:
		return 2;
	case OPT_ROOTFS:
	case OPT_VOLUME:
	case OPT_LAYER:
		return 4;
	case OPT_PIDS_LIMIT:
	case OPT_MEMORY:
	case OPT_CPUS:
	case OPT_NAME:
		return 5;
	default:
		return 1;
	}
}

static const char *option_name(int opt)
{
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

static void check_hostname(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > HOSTNAME_MAX_LEN)
		diex("invalid --hostname '%.80s': must be 1 to %d characters",
		     s, HOSTNAME_MAX_LEN);
}

/* Docker's rule, which also keeps '/', '.' and '..' out of cgroup paths. */
static void check_name(const char *s)
{
	size_t len = strlen(s);
	int ok =
		len >= 1 && len <= NAME_MAX_LEN && isalnum((unsigned char)s[0]);

	for (size_t i = 1; ok && i < len; i++)
		ok = isalnum((unsigned char)s[i]) || strchr("_.-", s[i]);
	if (!ok)
		diex("invalid --name '%.80s': use 1 to %d of [a-zA-Z0-9_.-], starting with a letter or digit",
		     s, NAME_MAX_LEN);
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
	const char *name = option_name(opt);

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
	case 'v':
		verbose = 1;
		break;
	case OPT_INIT:
		opts->init = 1;
		break;
	case OPT_ROOTFS:
		free(opts->rootfs);
		opts->rootfs = existing_dir("--rootfs", val);
		/* Stage 4 covers the image's path with a scratch tmpfs, and a
		 * mount on top of "/" is not seen through "/". */
		if (strcmp(opts->rootfs, "/") == 0)
			diex("invalid --rootfs '%.80s': the host's own / cannot be the image; build one with 'make rootfs'",
			     val);
		break;
	case OPT_VOLUME:
		add_volume(opts, val);
		break;
	case OPT_LAYER:
		free(opts->layer);
		opts->layer = layer_dir(val);
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
	int opt;

	memset(opts, 0, sizeof(*opts));
	opts->hostname = DEFAULT_HOSTNAME;
	opts->pids_limit = 20;
	opts->memory = 500LL << 20;
	opts->cpu_period_us = CPU_PERIOD_US;
	opts->cpu_quota_us = 2 * CPU_PERIOD_US;

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
	while ((opt = getopt_long(argc, argv, "+:vh", long_options, NULL)) !=
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
		if (opt == '?')
			usage_error("unknown option '%.80s'", argv[optind - 1]);
		if (opt == ':')
			usage_error("option '%.80s' needs a value",
				    argv[optind - 1]);
		if (introduced_in(opt) > stage)
			diex("option --%s is introduced in stage %d (%s); this is stage %d (%s)",
			     option_name(opt), introduced_in(opt),
			     stage_dirs[introduced_in(opt)], stage,
			     stage_dirs[stage]);
		set_option(opts, opt, optarg);
	}
	if (optind >= argc)
		usage_error("missing COMMAND");
	if (argv[optind][0] == '\0')
		usage_error("empty COMMAND");
	opts->command = &argv[optind];

	if (stage >= 4 && opts->rootfs == NULL) {
		const char *image = default_rootfs();
		struct stat st;

		if (stat(image, &st) == -1 || !S_ISDIR(st.st_mode))
			diex("the default image %s is missing: build it with 'make rootfs', or give --rootfs DIR",
			     image);
		opts->rootfs = existing_dir("--rootfs", image);
	}
}
