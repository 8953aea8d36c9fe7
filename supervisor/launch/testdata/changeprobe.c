// changeprobe makes the calls its arguments name and prints one line per call: "<op> <errno
// name or OK>". Each call is an op and its paths:
//   open P | link P Q | rename P Q | symlink TEXT Q | truncate P | chmod P | chown P |
//   utimensat P | setxattr P | setxattrat P | removexattrat P | file_setattr P | exec P |
//   unlink P | mkdir P | rmdir P | openat DIR NAME
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static void report(const char *op, long r) {
	printf("%s %s\n", op, r < 0 ? strerrorname_np(errno) : "OK");
	fflush(stdout);
}

int main(int argc, char **argv) {
	for (int i = 1; i < argc;) {
		const char *op = argv[i++], *p = argv[i++];
		errno = 0;
		if (!strcmp(op, "open")) {
			int fd = open(p, O_RDONLY);
			report(op, fd);
			if (fd >= 0) close(fd);
		} else if (!strcmp(op, "openat")) {
			int d = open(p, O_PATH | O_DIRECTORY);
			int fd = d < 0 ? -1 : openat(d, argv[i], O_RDONLY);
			i++;
			report(op, fd);
			if (fd >= 0) close(fd);
			if (d >= 0) close(d);
		} else if (!strcmp(op, "link")) {
			report(op, link(p, argv[i++]));
		} else if (!strcmp(op, "rename")) {
			report(op, rename(p, argv[i++]));
		} else if (!strcmp(op, "symlink")) {
			report(op, symlink(p, argv[i++]));
		} else if (!strcmp(op, "truncate")) {
			report(op, truncate(p, 0));
		} else if (!strcmp(op, "chmod")) {
			report(op, chmod(p, 0777));
		} else if (!strcmp(op, "chown")) {
			report(op, chown(p, getuid(), getgid()));
		} else if (!strcmp(op, "utimensat")) {
			struct timespec ts[2] = {{1, 0}, {1, 0}};
			report(op, utimensat(AT_FDCWD, p, ts, 0));
		} else if (!strcmp(op, "setxattr")) {
			report(op, setxattr(p, "user.scrim", "x", 1, 0));
		} else if (!strcmp(op, "setxattrat")) {
			struct { unsigned long long value; unsigned size, flags; } a = {(unsigned long)"x", 1, 0};
			report(op, syscall(463, AT_FDCWD, p, 0, "user.scrim", &a, sizeof a));
		} else if (!strcmp(op, "removexattrat")) {
			report(op, syscall(466, AT_FDCWD, p, 0, "user.scrim"));
		} else if (!strcmp(op, "file_setattr")) {
			// FS_XFLAG_NODUMP, which the file's owner may set.
			struct { unsigned long long xflags; unsigned extsize, nextents, projid, cowextsize; } fa = {0x80};
			report(op, syscall(469, AT_FDCWD, p, &fa, sizeof fa, 0));
		} else if (!strcmp(op, "exec")) {
			pid_t pid = fork();
			if (pid == 0) {
				char *args[] = {(char *)p, NULL};
				execv(p, args);
				_exit(errno == EACCES ? 13 : 99);
			}
			int ws;
			waitpid(pid, &ws, 0);
			errno = WIFEXITED(ws) && WEXITSTATUS(ws) == 13 ? EACCES : EIO;
			report(op, WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? 0 : -1);
		} else if (!strcmp(op, "unlink")) {
			report(op, unlink(p));
		} else if (!strcmp(op, "mkdir")) {
			report(op, mkdir(p, 0755));
		} else if (!strcmp(op, "rmdir")) {
			report(op, rmdir(p));
		} else {
			printf("%s BADOP\n", op);
		}
	}
	return 0;
}
