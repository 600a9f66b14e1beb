/*
 * seccomp-dump.c - print the seccomp filter of a process, from the host
 * (tests/ext-harden.bats reads how the filter starts).
 *
 * Usage: seccomp-dump PID
 *
 * Attaches to PID with ptrace(2), asks for its first (newest) filter with
 * PTRACE_SECCOMP_GET_FILTER and prints one instruction a line, as the
 * kernel holds them: "CODE JT JF K" in hex, CODE 4 digits and K 8 (a
 * load of the arch field is "0020 00 00 00000004").  Detaches and leaves
 * the process as it was.  Needs CAP_SYS_ADMIN and a kernel built with
 * CONFIG_CHECKPOINT_RESTORE (else it says so and exits 3).
 * Exit status: 0, 1 on an error, 3 where the kernel cannot tell.
 *
 * See: ptrace(2) (PTRACE_SECCOMP_GET_FILTER), seccomp(2)
 */
#include <errno.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

int main(int argc, char **argv)
{
	struct sock_filter *insn;
	long n;
	pid_t pid;
	int status;

	if (argc != 2) {
		fprintf(stderr, "usage: seccomp-dump PID\n");
		return 1;
	}
	pid = (pid_t)atoi(argv[1]);
	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) == -1 ||
	    ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) == -1) {
		fprintf(stderr, "seccomp-dump: ptrace %d: %s\n", pid,
			strerror(errno));
		return 1;
	}
	if (waitpid(pid, &status, __WALL) == -1) {
		fprintf(stderr, "seccomp-dump: waitpid %d: %s\n", pid,
			strerror(errno));
		return 1;
	}
	n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0L, NULL);
	if (n == -1) {
		int saved = errno;

		fprintf(stderr,
			"seccomp-dump: PTRACE_SECCOMP_GET_FILTER %d: %s\n", pid,
			strerror(saved));
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		/* EIO: no CONFIG_CHECKPOINT_RESTORE; ENOENT: no filter. */
		return saved == EIO || saved == EINVAL ? 3 : 1;
	}
	insn = calloc((size_t)n, sizeof(*insn));
	if (insn == NULL ||
	    ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0L, insn) != n) {
		fprintf(stderr,
			"seccomp-dump: PTRACE_SECCOMP_GET_FILTER %d: %s\n", pid,
			strerror(errno));
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return 1;
	}
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	for (long i = 0; i < n; i++)
		printf("%04x %02x %02x %08x\n", insn[i].code, insn[i].jt,
		       insn[i].jf, insn[i].k);
	free(insn);
	return 0;
}
