// openloop: opens and closes one path in a loop on N threads and prints what that cost, for
// scrim's benchmarks.
//
// Usage: openloop PATH TOTAL THREADS. TOTAL opens are split evenly across THREADS threads that
// start together. It prints one line, "ops=<n> ns=<wall ns> failed=<n>", timed from the first
// thread's first open to the last thread's last, so process start-up and the sandbox's own
// set-up are not counted. Each thread reads the clock itself: the main thread may be scheduled
// only after short loops have finished. A failed open (a denied file) counts as an op: its cost
// is what is being measured.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *path;
static long per_thread;
static atomic_long failed;
static pthread_barrier_t start;

struct span {
	long long start, end;
};

static long long now_ns(void);

static void *loop(void *arg) {
	struct span *sp = arg;
	long bad = 0;
	pthread_barrier_wait(&start);
	sp->start = now_ns();
	for (long i = 0; i < per_thread; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			bad++;
			continue;
		}
		close(fd);
	}
	sp->end = now_ns();
	atomic_fetch_add(&failed, bad);
	return NULL;
}

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: openloop PATH TOTAL THREADS\n");
		return 2;
	}
	path = argv[1];
	long total = atol(argv[2]);
	int threads = atoi(argv[3]);
	if (total <= 0 || threads <= 0 || threads > 256) {
		fprintf(stderr, "openloop: bad TOTAL or THREADS\n");
		return 2;
	}
	per_thread = total / threads;
	pthread_t tid[256];
	struct span spans[256];
	// The barrier counts the main thread too, so no worker starts before every one exists.
	if (pthread_barrier_init(&start, NULL, threads + 1) != 0) {
		fprintf(stderr, "openloop: pthread_barrier_init failed\n");
		return 1;
	}
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&tid[i], NULL, loop, &spans[i]) != 0) {
			fprintf(stderr, "openloop: pthread_create failed\n");
			return 1;
		}
	}
	pthread_barrier_wait(&start);
	long long t0 = 0, t1 = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		if (i == 0 || spans[i].start < t0) t0 = spans[i].start;
		if (i == 0 || spans[i].end > t1) t1 = spans[i].end;
	}
	printf("ops=%ld ns=%lld failed=%ld\n", per_thread * threads, t1 - t0,
	       (long)atomic_load(&failed));
	return 0;
}
