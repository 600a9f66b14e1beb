/*
 * sysprobe.c - try the system calls a hardened container refuses, and say
 * what each one did (tests/ext-harden.bats, docs/extensions/harden.md).
 *
 * Usage: sysprobe PROBE...    (sysprobe with no argument lists them)
 *
 * Each probe runs in a child of its own, so that one killed by a seccomp
 * filter does not end the others, and prints one line: "PROBE: ok" when
 * the call succeeded, "PROBE: EPERM" (or another errno's name) when it
 * failed, "PROBE: killed by SIGSYS" (or another signal), or "PROBE: n/a"
 * where the probe means nothing on this architecture.  Every call is made
 * so that it changes nothing, whatever it returns: a key in a keyring that
 * dies with the process, kexec and module calls with arguments the kernel
 * rejects after its permission checks, a mount in the container's own
 * namespace that is undone at once.  Exits 0 unless a probe is unknown.
 *
 * The other-ABI probes, x86-64 only: "i386" is getpid through int 0x80,
 * which the kernel runs as a 32-bit call (arch AUDIT_ARCH_I386) where it
 * has IA-32 emulation, and "x32" is getpid with __X32_SYSCALL_BIT.
 *
 * See: seccomp(2), ioctl_tty(2) (TIOCSTI), keyctl(2), kexec_load(2),
 *      init_module(2), mount(2), fsopen(2) in the kernel's mount API docs
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOT_HERE (-2) /* the probe means nothing on this architecture */

static long probe_tiocsti(void)
{
	char c = 'x';

	return ioctl(0, TIOCSTI, &c);
}

/* The request is an unsigned int: the kernel ignores bits 32 to 63. */
static long probe_tiocsti_high(void)
{
	char c = 'x';

	return syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | (1UL << 32), &c);
}

static long probe_tioclinux(void)
{
	char sub = 6; /* TIOCL_GETSHIFTSTATE: reads only */

	return ioctl(0, TIOCLINUX, &sub);
}

static long probe_keyctl(void)
{
	return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID,
		       KEY_SPEC_PROCESS_KEYRING, 1);
}

static long probe_add_key(void)
{
	return syscall(SYS_add_key, "user", "cfs-sysprobe", "x", 1,
		       KEY_SPEC_PROCESS_KEYRING);
}

static long probe_request_key(void)
{
	return syscall(SYS_request_key, "user", "cfs-sysprobe-none", NULL,
		       KEY_SPEC_PROCESS_KEYRING);
}

/* Flags no kernel accepts: EINVAL once the permission check passed. */
static long probe_kexec_load(void)
{
	return syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xfffe0000UL);
}

static long probe_kexec_file_load(void)
{
	return syscall(SYS_kexec_file_load, -1, -1, 0UL, "", 0xfffffff0UL);
}

/* An empty image: ENOEXEC once the permission check passed. */
static long probe_init_module(void)
{
	return syscall(SYS_init_module, "", 0UL, "");
}

static long probe_finit_module(void)
{
	return syscall(SYS_finit_module, -1, "", 0);
}

static long probe_delete_module(void)
{
	return syscall(SYS_delete_module, "cfs_sysprobe_none", O_NONBLOCK);
}

static long probe_mount(void)
{
	long rc = mount("cfs-sysprobe", "/mnt", "tmpfs", 0, "size=4k");

	if (rc == 0)
		umount("/mnt");
	return rc;
}

static long probe_fsopen(void)
{
	return syscall(SYS_fsopen, "tmpfs", 0);
}

static long probe_mknod_block(void)
{
	const char *path = "/tmp/.sysprobe-sda";
	long rc = mknod(path, S_IFBLK | 0600, makedev(8, 0));

	if (rc == 0)
		unlink(path);
	return rc;
}

static long probe_mknod_fifo(void)
{
	const char *path = "/tmp/.sysprobe-fifo";
	long rc = mknod(path, S_IFIFO | 0600, 0);

	if (rc == 0)
		unlink(path);
	return rc;
}

static long probe_getpid(void)
{
	return syscall(SYS_getpid);
}

static long probe_i386(void)
{
#if defined(__x86_64__)
	long rc = 20; /* __NR_getpid of i386 */

	__asm__ volatile("int $0x80" : "+a"(rc) : : "memory");
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return rc;
#else
	return NOT_HERE;
#endif
}

static long probe_x32(void)
{
#if defined(__x86_64__)
	return syscall(0x40000000 | SYS_getpid);
#else
	return NOT_HERE;
#endif
}

static const struct {
	const char *name;
	long (*run)(void);
} probes[] = {
	{"getpid", probe_getpid},
	{"tiocsti", probe_tiocsti},
	{"tiocsti-high", probe_tiocsti_high},
	{"tioclinux", probe_tioclinux},
	{"keyctl", probe_keyctl},
	{"add_key", probe_add_key},
	{"request_key", probe_request_key},
	{"kexec_load", probe_kexec_load},
	{"kexec_file_load", probe_kexec_file_load},
	{"init_module", probe_init_module},
	{"finit_module", probe_finit_module},
	{"delete_module", probe_delete_module},
	{"mount", probe_mount},
	{"fsopen", probe_fsopen},
	{"mknod-block", probe_mknod_block},
	{"mknod-fifo", probe_mknod_fifo},
	{"i386", probe_i386},
	{"x32", probe_x32},
};

/* Run one probe in a child, which prints its own result; say how it died
 * if it did not. */
static void run_probe(const char *name, long (*run)(void))
{
	int wstatus;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == -1) {
		perror("sysprobe: fork");
		exit(2);
	}
	if (pid == 0) {
		long rc = run();

		if (rc == NOT_HERE)
			printf("%s: n/a\n", name);
		else if (rc == -1)
			printf("%s: %s\n", name, strerrorname_np(errno));
		else
			printf("%s: ok\n", name);
		exit(0);
	}
	if (waitpid(pid, &wstatus, 0) == -1) {
		perror("sysprobe: waitpid");
		exit(2);
	}
	if (WIFSIGNALED(wstatus))
		printf("%s: killed by SIG%s\n", name,
		       sigabbrev_np(WTERMSIG(wstatus)));
}

int main(int argc, char **argv)
{
	size_t n = sizeof(probes) / sizeof(probes[0]), i;

	if (argc == 1) {
		for (i = 0; i < n; i++)
			printf("%s\n", probes[i].name);
		return 0;
	}
	for (int a = 1; a < argc; a++) {
		for (i = 0; i < n && strcmp(probes[i].name, argv[a]) != 0; i++)
			;
		if (i == n) {
			fprintf(stderr, "sysprobe: no probe '%s'\n", argv[a]);
			return 2;
		}
		run_probe(probes[i].name, probes[i].run);
	}
	return 0;
}
