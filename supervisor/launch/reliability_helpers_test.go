package launch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// faultsC is the sandboxed side of the fault and load tests: one C program, one mode per
// fault, each printing a line the test checks.
const faultsC = `// faults: the sandboxed side of supervisor/reliability_*_test.go. faults MODE ARGS...; each
// mode prints one line the test checks, and exits 0 unless it could not run at all.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// readCheck opens path and compares its first bytes with want: 0 if equal, else errno or -1.
static int readCheck(const char *path, const char *want) {
	char got[256] = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return errno;
	ssize_t n = pread(fd, got, strlen(want), 0);
	close(fd);
	return (n == (ssize_t)strlen(want) && memcmp(got, want, n) == 0) ? 0 : -1;
}

// fdfull LIMIT REAL: with RLIMIT_NOFILE at LIMIT and the table full, a real and a served
// open must fail with EMFILE; after one close both must work again.
static int fdfull(int argc, char **argv) {
	struct rlimit rl = {atoi(argv[2]), atoi(argv[2])};
	if (setrlimit(RLIMIT_NOFILE, &rl)) { perror("setrlimit"); return 2; }
	int last = -1;
	for (;;) {
		int fd = dup(0);
		if (fd < 0) break;
		last = fd;
	}
	int e1 = open(argv[3], O_RDONLY) < 0 ? errno : 0;
	int e2 = open("/etc/hosts", O_RDONLY) < 0 ? errno : 0;
	close(last);
	int ok1 = readCheck(argv[3], "REAL");
	int ok2 = readCheck("/etc/hosts", "SERVED");
	printf("full: real=%s served=%s; after close: real=%d served=%d\n", strerrorname_np(e1), strerrorname_np(e2), ok1, ok2);
	return 0;
}

// once PATH...: opens each path once and prints its result.
static int once(int argc, char **argv) {
	for (int i = 2; i < argc; i++) {
		int r = readCheck(argv[i], "SERVED");
		printf("%s%s", i > 2 ? " " : "", r == 0 ? "ok" : r < 0 ? "wrong" : strerrorname_np(r));
	}
	printf("\n");
	return 0;
}

static const char *fifoPath;
static void *fifoReader(void *arg) {
	int fd = open(fifoPath, O_RDONLY); // no writer ever comes
	printf("fifo open returned %d\n", fd);
	return NULL;
}

// fifo FIFO REAL N: one thread blocks forever opening FIFO; the others go on opening.
static int fifo(int argc, char **argv) {
	fifoPath = argv[2];
	pthread_t t;
	pthread_create(&t, NULL, fifoReader, NULL);
	usleep(100000);
	int n = atoi(argv[4]), bad = 0;
	for (int i = 0; i < n; i++) bad += readCheck(argv[3], "REAL") != 0;
	for (int i = 0; i < n; i++) bad += readCheck("/etc/hosts", "SERVED") != 0;
	printf("fifo: %d opens while blocked, bad=%d\n", 2 * n, bad);
	fflush(stdout);
	_exit(0); // exit_group: the blocked thread goes with the process
}

// vfork REAL N: N vfork children each make mediated opens (and half of them exec true).
static int vforks(int argc, char **argv) {
	int n = atoi(argv[3]), bad = 0;
	for (int i = 0; i < n; i++) {
		pid_t pid = vfork();
		if (pid == 0) {
			int fd = open(argv[2], O_RDONLY);
			int fd2 = open("/etc/hosts", O_RDONLY);
			if (fd < 0 || fd2 < 0) _exit(1);
			close(fd);
			close(fd2);
			if (i % 2) {
				char *args[] = {"true", NULL};
				execvp("true", args);
				_exit(3);
			}
			_exit(0);
		}
		int st;
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
	}
	printf("vfork: %d children, bad=%d\n", n, bad);
	return 0;
}

static volatile sig_atomic_t signals;
static void onAlarm(int sig) { signals++; }

// signals restart|norestart DIR N: SIGALRM every 50us while creating N files with
// O_CREAT|O_EXCL, retrying on EINTR: a retry must never find its file already made.
static int sigs(int argc, char **argv) {
	struct sigaction sa = {0};
	sa.sa_handler = onAlarm;
	if (strcmp(argv[2], "restart") == 0) sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 50}, {0, 50}};
	setitimer(ITIMER_REAL, &it, NULL);
	int n = atoi(argv[4]), eintr = 0, dup = 0, other = 0;
	char p[4200];
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/f%d", argv[3], i);
		for (;;) {
			int fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
			if (fd >= 0) { close(fd); break; }
			if (errno == EINTR) { eintr++; continue; }
			if (errno == EEXIST) dup++; else other++;
			break;
		}
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	printf("signals>0=%d eintr>0=%d dup=%d other=%d\n", signals > 0, eintr > 0, dup, other);
	fprintf(stderr, "signals=%d eintr=%d\n", (int)signals, eintr);
	return 0;
}

// forks REAL N: N short-lived children, up to 8 at once, each opening a real and a served
// file.
static int forks(int argc, char **argv) {
	int n = atoi(argv[3]), bad = 0, running = 0, st;
	for (int i = 0; i < n; i++) {
		if (running == 8) {
			if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
			running--;
		}
		pid_t pid = fork();
		if (pid == 0) _exit(readCheck(argv[2], "REAL") != 0 || readCheck("/etc/hosts", "SERVED") != 0);
		if (pid < 0) { bad++; continue; }
		running++;
	}
	while (running-- > 0)
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
	printf("forks: %d, bad=%d\n", n, bad);
	return 0;
}

static const char *loadReal;
static double loadEnd;
static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void *loadThread(void *arg) {
	long ops = 0, bad = 0;
	while (now() < loadEnd) {
		for (int i = 0; i < 50; i++, ops += 3) {
			bad += readCheck(loadReal, "REAL") != 0;
			bad += readCheck("/etc/hosts", "SERVED") != 0;
			bad += readCheck("/nonexistent/scrim/load", "x") != ENOENT;
		}
	}
	long *r = malloc(2 * sizeof(long));
	r[0] = ops, r[1] = bad;
	return r;
}

// load PROCS THREADS SECONDS REAL: PROCS processes of THREADS threads open in a loop.
static int load(int argc, char **argv) {
	int procs = atoi(argv[2]), threads = atoi(argv[3]);
	loadEnd = now() + atof(argv[4]);
	loadReal = argv[5];
	int pfd[2];
	if (pipe(pfd)) return 2;
	for (int p = 0; p < procs; p++) {
		if (fork() == 0) {
			pthread_t t[256];
			long ops = 0, bad = 0;
			for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, loadThread, NULL);
			for (int i = 0; i < threads; i++) {
				long *r;
				pthread_join(t[i], (void **)&r);
				ops += r[0], bad += r[1];
			}
			long out[2] = {ops, bad};
			write(pfd[1], out, sizeof out);
			_exit(0);
		}
	}
	close(pfd[1]);
	long ops = 0, bad = 0, out[2];
	int got = 0;
	while (read(pfd[0], out, sizeof out) == sizeof out) ops += out[0], bad += out[1], got++;
	while (wait(NULL) > 0) {}
	printf("load: procs=%d bad=%ld\n", got, bad);
	fprintf(stderr, "load: %ld opens\n", ops);
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) return 2;
	if (!strcmp(argv[1], "fdfull")) return fdfull(argc, argv);
	if (!strcmp(argv[1], "once")) return once(argc, argv);
	if (!strcmp(argv[1], "fifo")) return fifo(argc, argv);
	if (!strcmp(argv[1], "vfork")) return vforks(argc, argv);
	if (!strcmp(argv[1], "signals")) return sigs(argc, argv);
	if (!strcmp(argv[1], "forks")) return forks(argc, argv);
	if (!strcmp(argv[1], "load")) return load(argc, argv);
	return 2;
}
`

// servedData is what every fault test's virtual /etc/hosts holds, and realData the content
// of its real file: the C program checks both on every open.
const (
	servedData = "SERVED\n"
	realData   = "REAL\n"
)

// logSink collects a supervisor's log output and lets a test react to a line as it is
// written.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	onWrite func(line string)
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	f := l.onWrite
	l.mu.Unlock()
	if f != nil {
		f(string(p))
	}
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logSink) logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: io.MultiWriter(l, os.Stderr)})
}

// faultEnv is what a fault test runs with: the C program, a real file and the handlers that
// serve /etc/hosts.
type faultEnv struct {
	prog, dir, real string
	handlers        []shim.Registration
}

func newFaultEnv(t *testing.T, extra ...shim.Registration) *faultEnv {
	t.Helper()
	e := &faultEnv{prog: testprog.C(t, faultsC), dir: t.TempDir()}
	e.real = filepath.Join(e.dir, "real")
	require.NoError(t, os.WriteFile(e.real, []byte(realData), 0o644))
	e.handlers = append(extra, shim.Registration{
		Handler: &fixedShim{id: "test.hosts", path: "/etc/hosts", data: []byte(servedData)}, Band: shim.BandVirtual,
	})
	return e
}

// footprint is what the supervisor's process holds: descriptors, goroutines, heap.
type footprint struct {
	fds        map[string]string
	goroutines int
	heap       uint64
	threads    int
}

func measure(t *testing.T) footprint {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return footprint{fds: openFds(t), goroutines: runtime.NumGoroutine(), heap: ms.HeapInuse, threads: threadCount(t)}
}

func threadCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err)
	return len(ents)
}

// Bounds on what one supervised run may leave behind once it has returned.
const (
	// goroutineSlack covers goroutines of the test framework and the runtime that come and
	// go (a timer's, a finalizer's); scrim's own are gone when Run returns.
	goroutineSlack = 2
	// heapSlack covers what the heap keeps for reuse between GCs.
	heapSlack = 8 << 20
)

// requireSettles checks that the process returns to before: the same descriptors exactly,
// goroutines and heap within the bounds above.
func requireSettles(t *testing.T, before footprint) footprint {
	t.Helper()
	var after footprint
	require.Eventually(t, func() bool {
		after = measure(t)
		return after.goroutines <= before.goroutines+goroutineSlack && after.heap <= before.heap+heapSlack
	}, 10*time.Second, 50*time.Millisecond, "goroutines %d -> %d, heap %d -> %d", before.goroutines, after.goroutines, before.heap, after.heap)
	require.Equal(t, before.fds, after.fds, "descriptors leaked in the supervisor")
	t.Logf("footprint: fds %d -> %d, goroutines %d -> %d, heap %d KiB -> %d KiB, threads %d -> %d",
		len(before.fds), len(after.fds), before.goroutines, after.goroutines, before.heap>>10, after.heap>>10, before.threads, after.threads)
	return after
}

// supervise runs cfg with stdout and stderr captured (stdin /dev/null unless cfg sets it) and
// returns the supervisor for inspection, the status, stdout and stderr.
func supervise(t *testing.T, cfg Config) (*Supervisor, int, string, string) {
	t.Helper()
	dir := t.TempDir()
	outf, err := os.Create(filepath.Join(dir, "stdout"))
	require.NoError(t, err)
	defer outf.Close()
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	require.NoError(t, err)
	defer errf.Close()
	cfg.Stdout, cfg.Stderr = outf, errf
	if cfg.Stdin == nil {
		devnull, err := os.Open(os.DevNull)
		require.NoError(t, err)
		defer devnull.Close()
		cfg.Stdin = devnull
	}
	if cfg.Log == nil {
		cfg.Log = testLogger()
	}
	s, err := New(cfg)
	require.NoError(t, err)
	status, err := s.Run(context.Background())
	if cmdErr := (*CommandError)(nil); !errors.As(err, &cmdErr) {
		require.NoError(t, err)
	}
	out, err := os.ReadFile(outf.Name())
	require.NoError(t, err)
	serr, err := os.ReadFile(errf.Name())
	require.NoError(t, err)
	return s, status, string(out), string(serr)
}

// warm runs one sandbox so that what is built once per process (kernel probes, the
// testprog cache, loggers) is not counted as a leak.
func warm(t *testing.T, e *faultEnv) {
	t.Helper()
	_, status, out, serr := supervise(t, Config{Args: []string{e.prog, "once", "/etc/hosts"}, Handlers: e.handlers})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "ok\n", out)
}
