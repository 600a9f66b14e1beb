/*
 * file.c - small-file helpers for /proc and /sys, where every write is one
 * short string and a failed write is the kernel saying no.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

void make_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= size)
		diex("path too long: %.80s...", buf);
}

int path_is_under(const char *path, const char *top)
{
	size_t len = strlen(top);

	return strncmp(path, top, len) == 0 &&
	       (path[len] == '\0' || path[len] == '/');
}

int write_file(const char *path, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int fd, len, saved;
	ssize_t n;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(buf)) {
		errno = EOVERFLOW;
		return -1;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	/* cgroup and proc files take the whole value in a single write. */
	n = write(fd, buf, (size_t)len);
	saved = errno;
	close(fd);
	errno = saved;
	if (n == -1)
		return -1;
	if (n != len) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int read_file(const char *path, char *buf, size_t size)
{
	int fd, saved;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	n = read(fd, buf, size - 1);
	saved = errno;
	close(fd);
	errno = saved;
	if (n == -1)
		return -1;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

int read_key(const char *path, const char *key, long long *value)
{
	char line[256], name[64];
	long long v;
	FILE *f;

	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%63s %lld", name, &v) == 2 &&
		    strcmp(name, key) == 0) {
			fclose(f);
			*value = v;
			return 0;
		}
	}
	fclose(f);
	errno = ENODATA;
	return -1;
}
