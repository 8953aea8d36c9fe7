// timeit: runs a command and prints how long it took from fork to exit, for scrim's benchmarks.
//
// Usage: timeit CMD [ARGS...]. It prints one line, "ns=<wall ns>", after CMD exited with status
// 0, and fails otherwise. Started inside a sandbox or a container, it times the program alone:
// the sandbox's or the container's own start-up happens before timeit runs and is not counted.
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: timeit CMD [ARGS...]\n");
		return 2;
	}
	long long t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		perror("timeit: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		perror("timeit: exec");
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0) {
		perror("timeit: waitpid");
		return 1;
	}
	long long t1 = now_ns();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "timeit: %s did not exit with status 0 (wait status %#x)\n", argv[1], status);
		return 1;
	}
	printf("ns=%lld\n", t1 - t0);
	return 0;
}
