// bypass tries every way around the open mediation scrim denies and prints one line per
// attempt: "<name> <errno name or OK>".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/seccomp.h>
#include <linux/filter.h>

static void report(const char *name, long r) {
	printf("%s %s\n", name, r < 0 ? strerrorname_np(errno) : "OK");
}

static const char path[] = "/etc/hosts";

// int 0x80: the i386 entry point; open is number 5 there.
static long open_int80(const char *p) {
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(5), "b"((long)p), "c"(0), "d"(0) : "memory");
	if (ret < 0 && ret > -4096) {
		errno = -ret;
		return -1;
	}
	return ret;
}

int main(void) {
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	report("io_uring_setup", syscall(SYS_io_uring_setup, 8, &p));
	struct { unsigned int bytes; int type; unsigned char h[128]; } fh = {.bytes = 128};
	int mnt;
	report("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, path, &fh, &mnt, 0));
	report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, &fh, O_RDONLY));
	report("x32_open", syscall(0x40000000 | SYS_open, path, O_RDONLY));
	report("x32_openat", syscall(0x40000000 | SYS_openat, AT_FDCWD, path, O_RDONLY));
	// The i386 ABI passes 32-bit pointers: put the path below 4 GiB so that only the
	// filter's arch check can stop the open.
	char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	strcpy(low, path);
	report("int80_open", open_int80(low));
	report("unshare_newuser", syscall(SYS_unshare, CLONE_NEWUSER));
	report("unshare_newns", syscall(SYS_unshare, CLONE_NEWNS));
	report("clone_newuser", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
	report("clone3", syscall(SYS_clone3, NULL, 0));
	report("setns", syscall(SYS_setns, 0, 0));
	// Harmless targets: should the filter ever let these through, nothing on the host changes.
	report("mount", mount("none", "/nonexistent-scrim-mount", "tmpfs", 0, NULL));
	report("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/etc", 1 /* OPEN_TREE_CLONE */));
	report("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
	report("fspick", syscall(SYS_fspick, AT_FDCWD, "/", 0));
	report("move_mount", syscall(SYS_move_mount, -1, "", -1, "", 0));
	report("mount_setattr", syscall(SYS_mount_setattr, -1, "", 0, NULL, 0));
	report("pivot_root", syscall(SYS_pivot_root, "/", "/"));
	report("chroot", chroot("/"));
	report("ptrace_attach", ptrace(PTRACE_ATTACH, getppid(), 0, 0));
	char buf[8];
	struct iovec l = {buf, 8}, r = {buf, 8};
	report("process_vm_readv", syscall(SYS_process_vm_readv, getpid(), &l, 1, &r, 1, 0));
	report("bpf", syscall(SYS_bpf, 0, NULL, 0));
	report("userfaultfd", syscall(SYS_userfaultfd, 0));
	report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
	report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0xffffffffUL));
	report("init_module", syscall(SYS_init_module, NULL, 0, ""));
	report("delete_module", syscall(SYS_delete_module, "x", 0));
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {1, &allow};
	report("seccomp_listener", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
	// A plain extra filter stays allowed: it can only restrict more.
	report("seccomp_plain", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
	// Threads and forks still work.
	pid_t c = fork();
	if (c == 0) _exit(9);
	int st;
	waitpid(c, &st, 0);
	printf("fork %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 9 ? "OK" : "FAIL");
	return 0;
}
