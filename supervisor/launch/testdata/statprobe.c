// statprobe makes the stat-like calls its arguments describe and prints one line per call:
// "<errno name>" or "OK <what the call answered>". Each case is three arguments: op dir path.
//   op    stat | lstat | fstatat | fstatat_nofollow | statx | statx_nofollow | empty (open
//         path O_PATH, then newfstatat(fd, "", AT_EMPTY_PATH)) | statx_empty | access | faccessat |
//         faccessat2_nofollow | access_w | readlink | readlinkat | readlink_empty (open path
//         O_PATH|O_NOFOLLOW, then readlinkat(fd, "")) | statfs (f_type:f_bsize) | inotify |
//         inotify_nofollow (inotify_add_watch on a new instance, IN_DONT_FOLLOW) | getxattr |
//         lgetxattr (of "user.scrim":
//         its value) | listxattr | llistxattr (the list's length) | fchdir0 (fchdir(0); dir
//         and path unused). The xattr calls take no dir: their path is from the cwd.
//   dir   "-" for AT_FDCWD, or a directory opened O_PATH for this case
//   path  the path; "@D" is replaced by the dir's fd number, "@P" by getpid()
// A stat answers "dev:ino:type:size:nlink", which is the same object however it was named;
// on procfs, whose inode numbers differ from process to process, "proc" stands for dev:ino.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

static void subst(char *out, size_t n, const char *in, int dfd) {
	size_t o = 0;
	for (const char *p = in; *p && o + 16 < n; p++) {
		if (p[0] == '@' && (p[1] == 'D' || p[1] == 'P')) {
			long v = p[1] == 'D' ? dfd : getpid();
			o += snprintf(out + o, n - o, "%ld", v);
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = 0;
}

static dev_t proc_dev;

static void id_line(dev_t dev, unsigned long long ino, unsigned mode, long long size, unsigned long nlink) {
	if (dev == proc_dev)
		printf("OK proc:%o:%lld:%lu\n", mode & S_IFMT, size, nlink);
	else
		printf("OK %lx:%llu:%o:%lld:%lu\n", (unsigned long)dev, ino, mode & S_IFMT, size, nlink);
}

static void stat_line(long r, struct stat *st) {
	if (r < 0) {
		printf("%s\n", strerrorname_np(errno));
		return;
	}
	id_line(st->st_dev, st->st_ino, st->st_mode, st->st_size, st->st_nlink);
}

static void statx_line(long r, struct statx *sx) {
	if (r < 0) {
		printf("%s\n", strerrorname_np(errno));
		return;
	}
	id_line(makedev(sx->stx_dev_major, sx->stx_dev_minor), sx->stx_ino, sx->stx_mode, sx->stx_size, sx->stx_nlink);
}

static void link_line(long n, const char *buf) {
	if (n < 0) {
		printf("%s\n", strerrorname_np(errno));
		return;
	}
	// /proc/self's text is the caller's pid, which differs from run to run.
	char pid[32];
	int pn = snprintf(pid, sizeof pid, "%d", getpid());
	if (n == pn && memcmp(buf, pid, pn) == 0) {
		printf("OK @P\n");
		return;
	}
	printf("OK %.*s\n", (int)n, buf);
}

int main(int argc, char **argv) {
	struct stat pst;
	if (stat("/proc", &pst) == 0)
		proc_dev = pst.st_dev;
	for (int i = 1; i + 2 < argc; i += 3) {
		const char *op = argv[i], *dir = argv[i + 1];
		int dfd = AT_FDCWD;
		if (strcmp(dir, "-") != 0) {
			dfd = open(dir, O_PATH | O_DIRECTORY);
			if (dfd < 0) {
				printf("DIR-%s\n", strerrorname_np(errno));
				continue;
			}
		}
		char path[8192], buf[4096];
		subst(path, sizeof path, argv[i + 2], dfd);
		struct stat st;
		struct statx sx;
		errno = 0;
		if (!strcmp(op, "stat")) {
			stat_line(syscall(SYS_stat, path, &st), &st);
		} else if (!strcmp(op, "lstat")) {
			stat_line(syscall(SYS_lstat, path, &st), &st);
		} else if (!strcmp(op, "fstatat")) {
			stat_line(syscall(SYS_newfstatat, dfd, path, &st, 0), &st);
		} else if (!strcmp(op, "fstatat_nofollow")) {
			stat_line(syscall(SYS_newfstatat, dfd, path, &st, AT_SYMLINK_NOFOLLOW), &st);
		} else if (!strcmp(op, "statx")) {
			statx_line(syscall(SYS_statx, dfd, path, 0, STATX_BASIC_STATS, &sx), &sx);
		} else if (!strcmp(op, "statx_nofollow")) {
			statx_line(syscall(SYS_statx, dfd, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx), &sx);
		} else if (!strcmp(op, "empty") || !strcmp(op, "statx_empty")) {
			int fd = openat(dfd, path, O_PATH);
			if (fd < 0) {
				printf("OPEN-%s\n", strerrorname_np(errno));
			} else if (!strcmp(op, "empty")) {
				stat_line(syscall(SYS_newfstatat, fd, "", &st, AT_EMPTY_PATH), &st);
			} else {
				statx_line(syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx), &sx);
			}
			if (fd >= 0) close(fd);
		} else if (!strcmp(op, "access")) {
			long r = syscall(SYS_access, path, R_OK);
			printf("%s\n", r < 0 ? strerrorname_np(errno) : "OK");
		} else if (!strcmp(op, "access_w")) {
			long r = syscall(SYS_access, path, W_OK);
			printf("%s\n", r < 0 ? strerrorname_np(errno) : "OK");
		} else if (!strcmp(op, "faccessat")) {
			long r = syscall(SYS_faccessat, dfd, path, R_OK);
			printf("%s\n", r < 0 ? strerrorname_np(errno) : "OK");
		} else if (!strcmp(op, "faccessat2_nofollow")) {
			long r = syscall(SYS_faccessat2, dfd, path, F_OK, AT_SYMLINK_NOFOLLOW);
			printf("%s\n", r < 0 ? strerrorname_np(errno) : "OK");
		} else if (!strcmp(op, "readlink")) {
			link_line(syscall(SYS_readlink, path, buf, sizeof buf), buf);
		} else if (!strcmp(op, "readlinkat")) {
			link_line(syscall(SYS_readlinkat, dfd, path, buf, sizeof buf), buf);
		} else if (!strcmp(op, "readlink_empty")) {
			int fd = openat(dfd, path, O_PATH | O_NOFOLLOW);
			if (fd < 0) {
				printf("OPEN-%s\n", strerrorname_np(errno));
			} else {
				link_line(syscall(SYS_readlinkat, fd, "", buf, sizeof buf), buf);
				close(fd);
			}
		} else if (!strcmp(op, "inotify") || !strcmp(op, "inotify_nofollow")) {
			// The watch's number depends on what the instance watched before: only
			// whether it was added is printed.
			int in = inotify_init1(IN_CLOEXEC);
			uint32_t mask = IN_ALL_EVENTS | (op[7] == '_' ? IN_DONT_FOLLOW : 0);
			long wd = syscall(SYS_inotify_add_watch, in, path, mask);
			printf("%s\n", wd < 0 ? strerrorname_np(errno) : "OK");
			close(in);
		} else if (!strcmp(op, "statfs")) {
			struct statfs sf;
			if (syscall(SYS_statfs, path, &sf) < 0)
				printf("%s\n", strerrorname_np(errno));
			else
				printf("OK %lx:%ld\n", (unsigned long)sf.f_type, (long)sf.f_bsize);
		} else if (!strcmp(op, "getxattr") || !strcmp(op, "lgetxattr")) {
			long n = syscall(op[0] == 'l' ? SYS_lgetxattr : SYS_getxattr, path, "user.scrim", buf, sizeof buf);
			if (n < 0)
				printf("%s\n", strerrorname_np(errno));
			else
				printf("OK %.*s\n", (int)n, buf);
		} else if (!strcmp(op, "listxattr") || !strcmp(op, "llistxattr")) {
			long n = syscall(op[0] == 'l' ? SYS_llistxattr : SYS_listxattr, path, buf, sizeof buf);
			if (n < 0)
				printf("%s\n", strerrorname_np(errno));
			else
				printf("OK %ld\n", n);
		} else if (!strcmp(op, "fchdir0")) {
			// Make standard input, a directory the test opened, the working directory.
			long r = fchdir(0);
			printf("%s\n", r < 0 ? strerrorname_np(errno) : "OK");
		} else {
			printf("BADOP\n");
		}
		if (dfd >= 0) close(dfd);
	}
	return 0;
}
