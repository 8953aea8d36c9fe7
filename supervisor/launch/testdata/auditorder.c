// auditorder makes calls in an order the audit log's sequence numbers must agree with.
// usage: auditorder DIR THREADS OPENS
//   1. THREADS threads each open DIR/t<k>-<i> for i = 0..OPENS-1, all at once (the files need
//      not exist);
//   2. the threads pass a token around a ring THREADS*4 times, and its holder opens
//      DIR/ring-<step> before it hands the token on;
//   3. one open of a path longer than PATH_MAX, one uname, and a rename of DIR/from to DIR/to.
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *dir;
static int threads, opens;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t start;
static int step;

static void try_open(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
}

static void *run(void *arg) {
	int k = (int)(long)arg;
	char path[PATH_MAX];
	pthread_barrier_wait(&start);
	for (int i = 0; i < opens; i++) {
		snprintf(path, sizeof path, "%s/t%d-%d", dir, k, i);
		try_open(path);
	}
	for (;;) {
		pthread_mutex_lock(&mu);
		while (step < threads * 4 && step % threads != k)
			pthread_cond_wait(&cv, &mu);
		if (step >= threads * 4) {
			pthread_mutex_unlock(&mu);
			return NULL;
		}
		snprintf(path, sizeof path, "%s/ring-%d", dir, step);
		try_open(path);
		step++;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
}

int main(int argc, char **argv) {
	if (argc != 4)
		return 2;
	dir = argv[1];
	threads = atoi(argv[2]);
	opens = atoi(argv[3]);
	pthread_t t[64];
	if (threads < 1 || threads > 64)
		return 2;
	pthread_barrier_init(&start, NULL, threads);
	for (int k = 0; k < threads; k++)
		pthread_create(&t[k], NULL, run, (void *)(long)k);
	for (int k = 0; k < threads; k++)
		pthread_join(t[k], NULL);

	char *long_path = malloc(PATH_MAX + 100);
	memset(long_path, 'a', PATH_MAX + 99);
	long_path[PATH_MAX + 99] = 0;
	try_open(long_path);
	struct utsname u;
	uname(&u);
	char from[PATH_MAX], to[PATH_MAX];
	snprintf(from, sizeof from, "%s/from", dir);
	snprintf(to, sizeof to, "%s/to", dir);
	if (rename(from, to) != 0) {
		perror("rename");
		return 1;
	}
	puts("done");
	return 0;
}
