// race flips a shared path buffer between a benign file and protected ones while other
// threads open it, for argv[1] seconds. A protected file's real bytes must never be read.
// Usage: race SECONDS BENIGN SERVED SECRET REALPREFIX [SERVEDPREFIX]
// SERVED is a file a shim serves: its served bytes start with SERVEDPREFIX ("127.0.0.1
// fixed-hosts" by default), its real ones with REALPREFIX.
// It prints "opens=N benign=N served=N denied=N other=N leaks=N".
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char buf[4096];
static const char *paths[3];
static const char *realprefix;
static const char *servedprefix = "127.0.0.1 fixed-hosts";
static atomic_int stop;
static atomic_long opens, benign, served, denied, other, leaks;

static void *flipper(void *arg) {
	(void)arg;
	unsigned i = 0;
	while (!atomic_load(&stop)) {
		const char *p = paths[i++ % 3];
		// Byte by byte, so the opener also sees torn mixtures.
		size_t n = strlen(p);
		for (size_t k = 0; k <= n; k++) ((volatile char *)buf)[k] = p[k];
	}
	return NULL;
}

static void *opener(void *arg) {
	long which = (long)arg;
	while (!atomic_load(&stop)) {
		int fd;
		switch (which % 3) {
		case 0: fd = syscall(SYS_open, buf, O_RDONLY); break;
		case 1: fd = syscall(SYS_openat, AT_FDCWD, buf, O_RDONLY); break;
		default: {
			struct open_how how = {.flags = O_RDONLY};
			fd = syscall(SYS_openat2, AT_FDCWD, buf, &how, sizeof how);
		}
		}
		which++;
		atomic_fetch_add(&opens, 1);
		if (fd < 0) {
			atomic_fetch_add(&denied, 1);
			continue;
		}
		char got[64] = {0};
		ssize_t n = pread(fd, got, sizeof got - 1, 0);
		close(fd);
		if (n <= 0) { atomic_fetch_add(&other, 1); continue; }
		if (!strncmp(got, "SECRET", 6) || !strncmp(got, realprefix, strlen(realprefix))) {
			atomic_fetch_add(&leaks, 1);
			fprintf(stderr, "LEAK: %s\n", got);
		} else if (!strncmp(got, "BENIGN", 6)) {
			atomic_fetch_add(&benign, 1);
		} else if (!strncmp(got, servedprefix, strlen(servedprefix))) {
			atomic_fetch_add(&served, 1);
		} else {
			atomic_fetch_add(&other, 1);
		}
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 6 && argc != 7) { fprintf(stderr, "usage\n"); return 2; }
	double secs = atof(argv[1]);
	paths[0] = argv[2]; paths[1] = argv[3]; paths[2] = argv[4];
	realprefix = argv[5];
	if (argc == 7) servedprefix = argv[6];
	strcpy(buf, paths[0]);
	pthread_t f, o[3];
	pthread_create(&f, NULL, flipper, NULL);
	for (long i = 0; i < 3; i++) pthread_create(&o[i], NULL, opener, (void *)i);
	struct timespec ts = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
	nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	pthread_join(f, NULL);
	for (int i = 0; i < 3; i++) pthread_join(o[i], NULL);
	printf("opens=%ld benign=%ld served=%ld denied=%ld other=%ld leaks=%ld\n", opens, benign, served, denied, other, leaks);
	return 0;
}
