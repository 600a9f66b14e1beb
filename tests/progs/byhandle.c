/*
 * byhandle.c - open a file by its handle, the way "shocker" left a container.
 *
 * name_to_handle_at(2) turns a path into a handle: the filesystem's own id
 * for the inode, valid anywhere on that filesystem.  open_by_handle_at(2)
 * opens a handle with no path at all, so no mount, chroot or pivot_root
 * stands in the way: given a volume (a mount of the host's filesystem) and a
 * handle, a process can open any file of that filesystem, such as the
 * host's /etc/shadow.  That is why it needs CAP_DAC_READ_SEARCH in the
 * initial user namespace: root of a user namespace does not have it.
 *
 * Usage: byhandle DIR
 *   Takes DIR's handle and opens it again through it.  Prints "opened DIR
 *   by its handle" and exits 0 if that worked, "denied: <error>" and exits
 *   1 if open_by_handle_at failed, and exits 2 if a step before failed.
 *
 * See: open_by_handle_at(2), capabilities(7)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HANDLE_BYTES 128

int main(int argc, char **argv)
{
	struct {
		struct file_handle h;
		unsigned char room[HANDLE_BYTES];
	} handle;
	int mount_id, mount_fd, fd;

	if (argc != 2) {
		fprintf(stderr, "usage: byhandle DIR\n");
		return 2;
	}
	handle.h.handle_bytes = HANDLE_BYTES;
	if (name_to_handle_at(AT_FDCWD, argv[1], &handle.h, &mount_id, 0) ==
	    -1) {
		fprintf(stderr, "name_to_handle_at %s: %s\n", argv[1],
			strerror(errno));
		return 2;
	}
	mount_fd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (mount_fd == -1) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	fd = open_by_handle_at(mount_fd, &handle.h, O_RDONLY);
	if (fd == -1) {
		printf("denied: %s\n", strerror(errno));
		return 1;
	}
	printf("opened %s by its handle\n", argv[1]);
	close(fd);
	close(mount_fd);
	return 0;
}
