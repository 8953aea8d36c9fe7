// hammer: PROCS processes x THREADS threads x OPENS opens, each checking its answer.
// Usage: hammer PROCS THREADS OPENS BENIGN SECRET
// Each thread cycles through: the benign file (real bytes "BENIGN"), /etc/hosts (served
// "127.0.0.1 fixed-hosts"), the secret file (EACCES), a missing file (ENOENT), and a
// new file it creates and unlinks (O_CREAT|O_EXCL). Prints "bad=N" summed over all.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int opens;
static const char *benign, *secret;
static char dir[4096];

static int check(int i, long self) {
	char got[64] = {0};
	int fd;
	switch (i % 5) {
	case 0:
		fd = open(benign, O_RDONLY | O_CLOEXEC);
		if (fd < 0) return 1;
		pread(fd, got, 6, 0);
		close(fd);
		return strcmp(got, "BENIGN") != 0;
	case 1:
		fd = open("/etc/hosts", O_RDONLY);
		if (fd < 0) return 1;
		pread(fd, got, 21, 0);
		close(fd);
		return strcmp(got, "127.0.0.1 fixed-hosts") != 0;
	case 2:
		fd = open(secret, O_RDONLY);
		if (fd >= 0) { close(fd); return 1; }
		return errno != EACCES;
	case 3:
		fd = openat(AT_FDCWD, "/nonexistent/scrim/hammer", O_RDONLY);
		if (fd >= 0) { close(fd); return 1; }
		return errno != ENOENT;
	default: {
		char p[4200];
		snprintf(p, sizeof p, "%s/f-%d-%ld-%d", dir, getpid(), self, i);
		fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0600);
		if (fd < 0) return 1;
		int bad = write(fd, "x", 1) != 1;
		close(fd);
		return bad | (unlink(p) != 0);
	}
	}
}

static void *worker(void *arg) {
	long self = (long)arg, bad = 0;
	for (int i = 0; i < opens; i++) bad += check(i, self);
	return (void *)bad;
}

int main(int argc, char **argv) {
	if (argc != 6) return 2;
	int procs = atoi(argv[1]), threads = atoi(argv[2]);
	opens = atoi(argv[3]);
	benign = argv[4];
	secret = argv[5];
	snprintf(dir, sizeof dir, "%s", benign);
	*strrchr(dir, '/') = 0;
	int pipefd[2];
	pipe(pipefd);
	for (int p = 0; p < procs; p++) {
		if (fork() == 0) {
			pthread_t t[256];
			long bad = 0;
			for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)i);
			for (int i = 0; i < threads; i++) {
				void *r;
				pthread_join(t[i], &r);
				bad += (long)r;
			}
			write(pipefd[1], &bad, sizeof bad);
			_exit(0);
		}
	}
	long total = 0;
	for (int p = 0; p < procs; p++) {
		long bad;
		read(pipefd[0], &bad, sizeof bad);
		total += bad;
		wait(NULL);
	}
	printf("bad=%ld\n", total);
	return 0;
}
