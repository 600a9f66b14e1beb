/*
 * extras.h - stage 4's extras (extras.c): the steps of child() that make the
 * container usable, beside the lesson of main.c.
 */
#ifndef EXTRAS_H
#define EXTRAS_H

#include "common.h"

/* --volume: open each host directory (before mount_root() covers the
 * image's path), then bind each one at its path inside the new root. */
void open_volumes(const struct options *opts, int volume_fd[]);
void mount_volumes(const struct options *opts, int volume_fd[]);
/* A /dev/shm of the container's own, and a read-only /sys, in the new root
 * (rootless: the host's, bound in). */
void mount_shm(void);
void mount_sys(int rootless);
/* A /tmp that anyone may write, whatever the image says (rootless, a tmpfs
 * where the image's belongs to no one inside). */
void make_tmp(int rootless);
/* After pivot_root: the image's usual PATH, and with -t (tty) a terminal of
 * the container's own whose master goes to the tool over sync_fd. */
void set_path(void);
void open_terminal(int tty, int sync_fd);
/* The child's word that its command starts, and the tool's look for it at
 * the end, on each one's end of the socket they share. */
void report_started(int sync_fd);
int command_started(int sync_fd);

#endif
