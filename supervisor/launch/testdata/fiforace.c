// fiforace makes a FIFO at one name and takes it away again while other threads open that name
// with O_CREAT, for argv[1] seconds, then exits with threads still blocked in their opens. The
// FIFO leaves the name by a rename into a ring of old names, so that the releaser can still
// end an open that waits on it; the ring's oldest, replaced, is unlinked.
// Usage: fiforace SECONDS DIR
// It prints "opens=N fifos=N files=N errors=N exit=NANOSECONDS", the last being
// CLOCK_REALTIME just before it exits.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RING 64

static char name[4096], old[RING][4096];
static atomic_long opens, fifos, files, errors;

static void *maker(void *arg) {
	(void)arg;
	for (unsigned i = 0;; i++) {
		mkfifo(name, 0600);
		// A file an opener created goes the same way.
		rename(name, old[i % RING]);
	}
	return NULL;
}

// opener opens name with O_CREAT, for writing or (arg != 0) for reading. An open that meets
// the FIFO waits for its other end, as the kernel would make it wait; releaser ends the wait.
static void *opener(void *arg) {
	int flags = (arg ? O_RDONLY : O_WRONLY) | O_CREAT;
	for (;;) {
		int fd = open(name, flags, 0600);
		atomic_fetch_add(&opens, 1);
		if (fd < 0) {
			atomic_fetch_add(&errors, 1);
			continue;
		}
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
			atomic_fetch_add(&fifos, 1);
		else
			atomic_fetch_add(&files, 1);
		close(fd);
	}
	return NULL;
}

// releaser opens both ends without blocking, which releases openers waiting for them.
static void *releaser(void *arg) {
	(void)arg;
	for (unsigned i = 0;; i++) {
		const char *p = i % 2 ? name : old[(i / 2) % RING];
		int fd = open(p, O_RDONLY | O_NONBLOCK);
		if (fd >= 0)
			close(fd);
		fd = open(p, O_WRONLY | O_NONBLOCK);
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 3)
		return 2;
	snprintf(name, sizeof name, "%s/fifo", argv[2]);
	for (int i = 0; i < RING; i++)
		snprintf(old[i], sizeof old[i], "%s/old-%d", argv[2], i);
	pthread_t t;
	pthread_create(&t, NULL, maker, NULL);
	for (long i = 0; i < 6; i++)
		pthread_create(&t, NULL, opener, (void *)(i % 3 == 2));
	pthread_create(&t, NULL, releaser, NULL);
	struct timespec d = {0};
	double secs = atof(argv[1]);
	d.tv_sec = (time_t)secs;
	d.tv_nsec = (long)((secs - (double)d.tv_sec) * 1e9);
	nanosleep(&d, NULL);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	printf("opens=%ld fifos=%ld files=%ld errors=%ld exit=%lld\n", atomic_load(&opens), atomic_load(&fifos),
	       atomic_load(&files), atomic_load(&errors), (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
	fflush(stdout);
	// exit_group ends the threads in the middle of their opens.
	_exit(0);
}
