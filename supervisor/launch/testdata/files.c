// files exercises opens whose semantics scrim must keep: "fifo DIR" and "tmpfile DIR".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int fifo(const char *dir) {
	char p[4096];
	snprintf(p, sizeof p, "%s/fifo", dir);
	if (mkfifo(p, 0600) != 0) { perror("mkfifo"); return 1; }
	pid_t c = fork();
	if (c == 0) {
		usleep(100000); // let the reader block in open first
		int w = open(p, O_WRONLY);
		if (w < 0) _exit(2);
		write(w, "through the fifo", 16);
		close(w);
		_exit(0);
	}
	int r = open(p, O_RDONLY); // blocks until the writer opens
	if (r < 0) { perror("open fifo"); return 1; }
	char buf[64] = {0};
	ssize_t n = read(r, buf, sizeof buf - 1);
	int st;
	waitpid(c, &st, 0);
	printf("fifo read %zd: %s, writer %d\n", n, buf, WEXITSTATUS(st));
	close(r);
	// O_NONBLOCK writer without a reader: ENXIO, as without scrim.
	int w = open(p, O_WRONLY | O_NONBLOCK);
	printf("nonblock writer: %s\n", w < 0 ? strerrorname_np(errno) : "OK");
	return 0;
}

static int tmpfile_(const char *dir) {
	int fd = open(dir, O_TMPFILE | O_RDWR, 0600);
	if (fd < 0) { perror("open O_TMPFILE"); return 1; }
	struct stat st;
	fstat(fd, &st);
	write(fd, "anonymous", 9);
	char buf[16] = {0};
	pread(fd, buf, 9, 0);
	char src[64], dst[4096];
	snprintf(src, sizeof src, "/proc/self/fd/%d", fd);
	snprintf(dst, sizeof dst, "%s/linked", dir);
	int l = linkat(AT_FDCWD, src, AT_FDCWD, dst, AT_SYMLINK_FOLLOW);
	printf("tmpfile nlink=%lu mode=%o read=%s link=%s\n", (unsigned long)st.st_nlink, st.st_mode & 0777, buf, l == 0 ? "OK" : strerrorname_np(errno));
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 3 && !strcmp(argv[1], "fifo")) return fifo(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "tmpfile")) return tmpfile_(argv[2]);
	fprintf(stderr, "usage: files fifo|tmpfile DIR\n");
	return 2;
}
