// floor: the smallest useful seccomp user-notification supervisor, used by scrim's benchmarks
// as the floor that no seccomp-notify design can beat.
//
// It traps open, openat, openat2 and creat, and answers every notification with
// SECCOMP_USER_NOTIF_FLAG_CONTINUE: the kernel then performs the open itself. It reads no
// memory, resolves nothing and opens nothing, so what it costs is the notification round trip
// alone. It asks for SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6) so that the kernel wakes the
// supervisor on the CPU the child is running on; without it each open costs several times more
// on a VM whose idle CPUs halt.
//
// With --inject it is instead the floor for a supervisor that opens every file itself, as scrim's
// strict mode does: for open and openat it reads the path from the child's memory, opens it
// relative to the child's cwd or dirfd (through /proc/<tid>/cwd and /proc/<tid>/fd/N) and
// installs the descriptor with SECCOMP_IOCTL_NOTIF_ADDFD and SECCOMP_ADDFD_FLAG_SEND. It checks
// nothing: no credentials, no umask, no chroot, and the path is read once and opened as it
// reads, so it is not race-proof; it is a floor, not a sandbox. openat2 and creat get
// CONTINUE. With one thread, it keeps itself and the child on one CPU as best it can: around
// the ioctl it pins itself to its CPU at SCHED_IDLE when it may, so the kernel wakes the child
// where it runs (RATIONALE.md, "Why do several workers wait on the listener?"); without that, the
// wake-ups cross to halted CPUs and it is three times slower here.
//
// With --trap N,N,... it also traps the system calls with those numbers and answers them with
// CONTINUE, so that it can trap what scrim's filter sends to its supervisor (`scrim check`
// lists it): a ratio to the floor then compares the cost per call, not the number of calls.
//
// Usage: floor [--inject] [--trap N,N,...] CMD [ARGS...]. Exits with the child's status (128+N
// if it died of signal N).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

// Debian 12's headers predate Linux 6.6; these are the kernel's values.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif

// sched_attr as sched_setattr(2) takes it; glibc 2.36 does not declare it.
struct sched_attr_v1 {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

static void die(const char *what) {
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(125);
}

#define MAX_TRAPPED 256

// install_filter traps the open family and the n calls in extra to the listener and allows
// everything else.
static int install_filter(const int *extra, int n) {
	int nrs[MAX_TRAPPED + 4] = {__NR_open, __NR_openat, __NR_openat2, __NR_creat};
	int count = 4;
	for (int i = 0; i < n; i++) {
		int seen = 0;
		for (int j = 0; j < count; j++) seen |= nrs[j] == extra[i];
		if (!seen) nrs[count++] = extra[i];
	}
	struct sock_filter prog[MAX_TRAPPED + 16];
	int len = 0;
	prog[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	prog[len++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	prog[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	prog[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	// One comparison per call, each jumping to the notify at the end when it matches.
	for (int i = 0; i < count; i++)
		prog[len++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nrs[i], count - i, 0);
	prog[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
	struct sock_fprog fprog = {.len = len, .filter = prog};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("prctl(PR_SET_NO_NEW_PRIVS)");
	int fd = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
	                 &fprog);
	if (fd < 0) die("seccomp(SECCOMP_SET_MODE_FILTER)");
	return fd;
}

static void send_fd(int sock, int fd) {
	char dummy = 0;
	struct iovec iov = {.iov_base = &dummy, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
	                     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, 0) < 0) die("sendmsg(listener)");
}

// reap waits for the child and ends the supervisor with its status. RECV blocks even once the
// filter has no users left, so the loop itself never sees the end; a separate thread does.
static void *reap(void *arg) {
	pid_t pid = *(pid_t *)arg;
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) die("waitpid");
	}
	if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
	_exit(WEXITSTATUS(status));
	return NULL;
}

static int recv_fd(int sock) {
	char dummy;
	struct iovec iov = {.iov_base = &dummy, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
	                     .msg_controllen = sizeof(u.buf)};
	if (recvmsg(sock, &msg, 0) <= 0) die("recvmsg(listener)");
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (c == NULL || c->cmsg_type != SCM_RIGHTS) {
		errno = EPROTO;
		die("recvmsg(listener)");
	}
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

// inject opens the path an open or openat names and installs it in the caller, answering the
// call; it returns 0, or the errno to answer with instead.
static int inject(int lfd, struct seccomp_notif *req) {
	int plain = req->data.nr == __NR_open; // open(2), not openat(2)
	int dirfd = plain ? AT_FDCWD : (int)req->data.args[0];
	uint64_t addr = plain ? req->data.args[0] : req->data.args[1];
	int flags = (int)(plain ? req->data.args[1] : req->data.args[2]);
	mode_t mode = (mode_t)(plain ? req->data.args[2] : req->data.args[3]);
	char path[4096];
	struct iovec local = {path, sizeof path}, remote = {(void *)addr, sizeof path};
	// A path may end near the end of its mapping; a short read still holds it.
	ssize_t n = process_vm_readv(req->pid, &local, 1, &remote, 1, 0);
	if (n <= 0) {
		remote.iov_len = local.iov_len = 4096 - (addr & 4095);
		n = process_vm_readv(req->pid, &local, 1, &remote, 1, 0);
	}
	if (n <= 0) return EFAULT;
	if (memchr(path, 0, n) == NULL) return ENAMETOOLONG;
	if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0) return ENOENT;
	int base = AT_FDCWD;
	if (path[0] != '/') {
		char dir[64];
		if (dirfd == AT_FDCWD)
			snprintf(dir, sizeof dir, "/proc/%u/cwd", req->pid);
		else
			snprintf(dir, sizeof dir, "/proc/%u/fd/%d", req->pid, dirfd);
		base = openat(AT_FDCWD, dir, O_PATH | O_CLOEXEC);
		if (base < 0) return errno == ENOENT ? EBADF : errno;
	}
	int fd = openat(base, path, flags | O_CLOEXEC, mode);
	int err = errno;
	if (base != AT_FDCWD) close(base);
	if (fd < 0) return err;
	struct seccomp_notif_addfd a = {.id = req->id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = fd,
	                                .newfd_flags = (flags & O_CLOEXEC) ? O_CLOEXEC : 0};
	cpu_set_t was, one;
	int pinned = 0, lowered = 0;
	if (sched_getaffinity(0, sizeof was, &was) == 0) {
		CPU_ZERO(&one);
		CPU_SET(sched_getcpu(), &one);
		pinned = sched_setaffinity(0, sizeof one, &one) == 0;
	}
	struct sched_attr_v1 idle = {.size = sizeof idle, .policy = SCHED_IDLE};
	lowered = syscall(SYS_sched_setattr, 0, &idle, 0) == 0;
	ioctl(lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
	if (lowered) {
		struct sched_attr_v1 normal = {.size = sizeof normal, .policy = SCHED_OTHER};
		// Back from SCHED_IDLE needs CAP_SYS_NICE; a supervisor stuck at idle would be unfair.
		if (syscall(SYS_sched_setattr, 0, &normal, 0) < 0) die("sched_setattr(SCHED_OTHER)");
	}
	if (pinned) sched_setaffinity(0, sizeof was, &was);
	close(fd);
	return 0;
}

int main(int argc, char **argv) {
	int injecting = 0, extra[MAX_TRAPPED], nextra = 0;
	for (;;) {
		if (argc > 1 && strcmp(argv[1], "--inject") == 0) {
			injecting = 1;
			argv++;
			argc--;
		} else if (argc > 2 && strcmp(argv[1], "--trap") == 0) {
			for (char *p = argv[2]; *p != 0;) {
				char *end;
				long nr = strtol(p, &end, 10);
				if (end == p || nr < 0 || nr > 1023 || nextra == MAX_TRAPPED ||
				    (*end != ',' && *end != 0)) {
					fprintf(stderr, "floor: --trap: want syscall numbers separated by commas, got %s\n", argv[2]);
					return 125;
				}
				extra[nextra++] = (int)nr;
				p = *end == ',' ? end + 1 : end;
			}
			argv += 2;
			argc -= 2;
		} else {
			break;
		}
	}
	if (argc < 2) {
		fprintf(stderr, "usage: floor [--inject] [--trap N,N,...] CMD [ARGS...]\n");
		return 125;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
	// The child must not run before the supervisor holds the listener, or its first opens
	// would block forever; it waits for one byte before exec.
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int lfd = install_filter(extra, nextra);
		send_fd(sv[1], lfd);
		close(lfd);
		char go;
		if (read(sv[1], &go, 1) != 1) _exit(125);
		close(sv[1]);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "floor: exec %s: %s\n", argv[1], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(sv[1]);
	int lfd = recv_fd(sv[0]);
	if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0)
		die("ioctl(SECCOMP_IOCTL_NOTIF_SET_FLAGS)");
	if (write(sv[0], "g", 1) != 1) die("write(go)");
	close(sv[0]);

	struct seccomp_notif_sizes sizes;
	if (syscall(__NR_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
		die("seccomp(SECCOMP_GET_NOTIF_SIZES)");
	struct seccomp_notif *req = calloc(1, sizes.seccomp_notif);
	struct seccomp_notif_resp *resp = calloc(1, sizes.seccomp_notif_resp);
	if (req == NULL || resp == NULL) die("calloc");

	pthread_t waiter;
	if (pthread_create(&waiter, NULL, reap, &pid) != 0) die("pthread_create");

	for (;;) {
		memset(req, 0, sizes.seccomp_notif);
		if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
			// EINTR: a signal; ENOENT: the caller died between trap and receive.
			if (errno == EINTR || errno == ENOENT) continue;
			die("ioctl(SECCOMP_IOCTL_NOTIF_RECV)");
		}
		memset(resp, 0, sizes.seccomp_notif_resp);
		resp->id = req->id;
		if (injecting && (req->data.nr == __NR_open || req->data.nr == __NR_openat)) {
			int e = inject(lfd, req);
			if (e == 0) continue;
			resp->error = -e;
		} else {
			resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		}
		if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
			die("ioctl(SECCOMP_IOCTL_NOTIF_SEND)");
	}
}
