// probe performs the opens its arguments describe and prints one line per open:
// "<errno name or OK> <up to 48 bytes read, non-printables as '.'>". Each case is five
// arguments: op dir path flags resolve.
//   op      open | openat | openat2 | creat | chdir | flags (open, then print the fd's flags
//           instead of its bytes: "OK acc=N cloexec=N nonblock=N")
//   dir     "-" for AT_FDCWD, or a directory path opened O_PATH for this case
//   path    the path; "@D" is replaced by the dir's fd number, "@P" by getpid(), "@T" by gettid()
//   flags   open flags as a C integer literal (0x...)
//   resolve openat2 resolve flags
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void subst(char *out, size_t n, const char *in, int dfd) {
	size_t o = 0;
	for (const char *p = in; *p && o + 16 < n; p++) {
		if (p[0] == '@' && (p[1] == 'D' || p[1] == 'P' || p[1] == 'T')) {
			long v = p[1] == 'D' ? dfd : p[1] == 'P' ? getpid() : gettid();
			o += snprintf(out + o, n - o, "%ld", v);
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = 0;
}

int main(int argc, char **argv) {
	for (int i = 1; i + 4 < argc; i += 5) {
		const char *op = argv[i], *dir = argv[i + 1];
		long flags = strtol(argv[i + 3], NULL, 0);
		long resolve = strtol(argv[i + 4], NULL, 0);
		int dfd = AT_FDCWD;
		if (strcmp(dir, "-") != 0) {
			dfd = open(dir, O_PATH | O_DIRECTORY);
			if (dfd < 0) {
				printf("DIR-%s -\n", strerrorname_np(errno));
				continue;
			}
		}
		char path[8192];
		subst(path, sizeof path, argv[i + 2], dfd);
		int fd = -1;
		errno = 0;
		if (!strcmp(op, "flags")) {
			fd = syscall(SYS_open, path, flags, 0644);
			if (fd < 0) {
				printf("%s -\n", strerrorname_np(errno));
			} else {
				int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
				printf("OK acc=%d cloexec=%d nonblock=%d\n", fl & O_ACCMODE, !!(fdf & FD_CLOEXEC), !!(fl & O_NONBLOCK));
				close(fd);
			}
			if (dfd >= 0) close(dfd);
			continue;
		}
		if (!strcmp(op, "open")) {
			fd = syscall(SYS_open, path, flags, 0644);
		} else if (!strcmp(op, "openat")) {
			fd = syscall(SYS_openat, dfd, path, flags, 0644);
		} else if (!strcmp(op, "openat2")) {
			struct open_how how = {.flags = flags, .resolve = resolve};
			if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) how.mode = 0644;
			fd = syscall(SYS_openat2, dfd, path, &how, sizeof how);
		} else if (!strcmp(op, "creat")) {
			fd = syscall(SYS_creat, path, 0644);
		} else if (!strcmp(op, "chdir")) {
			int r = chdir(path);
			printf("%s -\n", r == 0 ? "OK" : strerrorname_np(errno));
			if (dfd >= 0) close(dfd);
			continue;
		} else {
			printf("BADOP -\n");
			continue;
		}
		if (fd < 0) {
			printf("%s -\n", strerrorname_np(errno));
		} else {
			char buf[49];
			ssize_t n = pread(fd, buf, 48, 0);
			if (n < 0) {
				printf("OK -\n");
			} else {
				for (ssize_t k = 0; k < n; k++)
					if (buf[k] < 32 || buf[k] > 126) buf[k] = '.';
				buf[n] = 0;
				printf("OK %s\n", buf);
			}
			close(fd);
		}
		if (dfd >= 0) close(dfd);
	}
	return 0;
}
