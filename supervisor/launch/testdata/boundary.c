// boundary tries, from inside the sandbox, every way it knows to reach scrim, its keeper or
// another process outside, and the root-only channels out. One line per attempt:
// "<name> <errno name or OK>", or "<name> <detail>" where the line says more.
//
//	boundary SCRIM_PID HOST_PID DIR
//	boundary killall
//	boundary abstract NAME
//
// SCRIM_PID is scrim's pid, HOST_PID an unrelated process the test started outside the
// sandbox, DIR a directory the program may write. With killall it sends SIGSTOP to every
// process it may signal (kill(-1)), then SIGTERM to its own process group (kill(0)), and
// reports what happened to a child of its own. With abstract it connects to the abstract unix
// socket NAME.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/quota.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void report(const char *name, long r) {
	printf("%s %s\n", name, r < 0 ? strerrorname_np(errno) : "OK");
	fflush(stdout);
}

static int pidfd_open(pid_t pid) { return syscall(SYS_pidfd_open, pid, 0); }

// getfds copies every descriptor it can from pid's table and returns how many it got, noting
// any seccomp listener among them.
static int getfds(pid_t pid, int *listeners, int *last_errno) {
	int pidfd = pidfd_open(pid);
	if (pidfd < 0) {
		*last_errno = errno;
		return 0;
	}
	int got = 0;
	for (int fd = 0; fd < 64; fd++) {
		int c = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
		if (c < 0) {
			if (errno != EBADF)
				*last_errno = errno;
			continue;
		}
		got++;
		char link[64], target[256];
		snprintf(link, sizeof link, "/proc/self/fd/%d", c);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n > 0) {
			target[n] = 0;
			if (strstr(target, "seccomp"))
				(*listeners)++;
		}
		close(c);
	}
	close(pidfd);
	return got;
}

// signals sends sig to pid by every call of the kill family and reports each.
static void signals(const char *who, pid_t pid, int sig) {
	char name[64];
	const char *s = sig == 0 ? "0" : sig == SIGSTOP ? "STOP" : "KILL";
	snprintf(name, sizeof name, "kill_%s_%s", s, who);
	report(name, kill(pid, sig));
	snprintf(name, sizeof name, "tgkill_%s_%s", s, who);
	report(name, syscall(SYS_tgkill, pid, pid, sig));
	snprintf(name, sizeof name, "tkill_%s_%s", s, who);
	report(name, syscall(SYS_tkill, pid, sig));
	siginfo_t info;
	memset(&info, 0, sizeof info);
	info.si_code = SI_QUEUE;
	info.si_pid = getpid();
	info.si_uid = getuid();
	snprintf(name, sizeof name, "sigqueue_%s_%s", s, who);
	report(name, syscall(SYS_rt_sigqueueinfo, pid, sig, &info));
	int pidfd = pidfd_open(pid);
	snprintf(name, sizeof name, "pidfd_signal_%s_%s", s, who);
	if (pidfd < 0) {
		report(name, -1);
		return;
	}
	report(name, syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0));
	close(pidfd);
}

// outsider tries to copy descriptors from and signal one process outside the sandbox. Stop and
// kill are tried only once signal 0 failed: if the boundary were open, they would stop or
// kill the test itself, and a failed assertion is the better report.
static void outsider(const char *who, pid_t pid) {
	int listeners = 0, err = 0;
	int got = getfds(pid, &listeners, &err);
	char name[64];
	snprintf(name, sizeof name, "getfd_%s", who);
	if (got > 0)
		printf("%s copied %d listeners %d\n", name, got, listeners);
	else
		printf("%s %s\n", name, err ? strerrorname_np(err) : "none");
	errno = 0;
	if (kill(pid, 0) == 0) {
		printf("kill_0_%s OK (stop and kill not tried)\n", who);
		return;
	}
	signals(who, pid, 0);
	signals(who, pid, SIGSTOP);
	signals(who, pid, SIGKILL);
}

// killall stops "every" process, then terminates its process group, as a shell's
// `trap 'kill 0' EXIT` does; only the sandbox's own processes may notice.
static int killall(void) {
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	usleep(100000);
	report("kill_all_stop", kill(-1, SIGSTOP));
	usleep(200000);
	char path[64], stat[512];
	snprintf(path, sizeof path, "/proc/%d/stat", child);
	FILE *f = fopen(path, "r");
	char state = '?';
	if (f && fgets(stat, sizeof stat, f)) {
		char *p = strrchr(stat, ')');
		if (p && p[1] == ' ')
			state = p[2];
	}
	printf("own_child_state %c\n", state);
	signal(SIGTERM, SIG_IGN);
	report("kill_group_term", kill(0, SIGTERM));
	kill(child, SIGCONT);
	int ws;
	waitpid(child, &ws, 0);
	printf("own_child_signal %d\n", WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 2 && strcmp(argv[1], "killall") == 0)
		return killall();
	if (argc == 3 && strcmp(argv[1], "abstract") == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		strncpy(sa.sun_path + 1, argv[2], sizeof sa.sun_path - 2);
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		report("connect_abstract", connect(s, (struct sockaddr *)&sa, offsetof(struct sockaddr_un, sun_path) + 1 + strlen(argv[2])));
		return 0;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: boundary SCRIM_PID HOST_PID DIR\n");
		return 2;
	}
	pid_t scrim = atoi(argv[1]), host = atoi(argv[2]);
	const char *dir = argv[3];
	char path[4096];

	outsider("keeper", getppid());
	outsider("scrim", scrim);
	outsider("host", host);

	// Every pid there is: nothing outside the sandbox may give up a descriptor. The probe has
	// no children, so every pid but its own is outside.
	int copied = 0, listeners = 0, tried = 0;
	// The last field of /proc/loadavg is the last pid the kernel handed out.
	pid_t last = 0;
	FILE *la = fopen("/proc/loadavg", "r");
	if (!la || fscanf(la, "%*s %*s %*s %*s %d", &last) != 1) {
		printf("getfd_every_pid cannot read /proc/loadavg\n");
		return 1;
	}
	fclose(la);
	for (pid_t pid = 1; pid <= last + 64; pid++) {
		if (pid == getpid())
			continue;
		int fd = pidfd_open(pid);
		if (fd < 0)
			continue;
		close(fd);
		tried++;
		int err = 0;
		copied += getfds(pid, &listeners, &err);
	}
	printf("getfd_every_pid copied %d listeners %d\n", copied, listeners);
	fprintf(stderr, "boundary: tried pidfd_getfd on %d processes\n", tried);

	// Root-only channels out.
	char buf[128];
	report("klogctl_read_all", klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof buf));
	report("klogctl_size", klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
	report("fanotify_init", fanotify_init(FAN_CLASS_NOTIF, O_RDONLY));
	// A path that does not exist: were acct let through, root would get ENOENT.
	snprintf(path, sizeof path, "%s/no-such-dir/acct", dir);
	report("acct", acct(path));
	// swapon and quotactl's Q_QUOTAON make the kernel use a file it is given by path, a
	// denied one included; the same missing path shows whether the kernel was reached.
	snprintf(path, sizeof path, "%s/no-such-dir/swap", dir);
	report("swapon", syscall(SYS_swapon, path, 0));
	report("swapoff", syscall(SYS_swapoff, path));
	report("quotactl", syscall(SYS_quotactl, QCMD(Q_QUOTAON, USRQUOTA), path, 0, path));
	report("quotactl_fd", syscall(443 /* quotactl_fd */, 0, QCMD(Q_QUOTAON, USRQUOTA), 0, path));
	snprintf(path, sizeof path, "%s/kmsg-made-inside", dir);
	report("mknod_char", mknod(path, S_IFCHR | 0600, makedev(1, 11)));
	snprintf(path, sizeof path, "%s/sda-made-inside", dir);
	report("mknodat_block", mknodat(AT_FDCWD, path, S_IFBLK | 0600, makedev(8, 0)));
	snprintf(path, sizeof path, "%s/fifo-made-inside", dir);
	report("mknod_fifo", mknod(path, S_IFIFO | 0600, 0));
	// The filter looks at the request, not the descriptor: a bad descriptor shows the kernel
	// was reached (EBADF) or not (EPERM).
	char c = 'x';
	report("ioctl_tiocsti", ioctl(-1, TIOCSTI, &c));
	report("ioctl_tioclinux", ioctl(-1, TIOCLINUX, &c));
	report("ioctl_tcgets", ioctl(-1, TCGETS, NULL));
	report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
	report("add_key", syscall(SYS_add_key, "user", "scrim", "x", 1, KEY_SPEC_SESSION_KEYRING));
	report("request_key", syscall(SYS_request_key, "user", "scrim", NULL, 0));
	return 0;
}
