package launch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// stallShim holds every open of path for a long time, as a stuck plugin or a slow filesystem
// would, without the supervisor knowing in advance that the call will block.
type stallShim struct {
	path string
	hold time.Duration
}

func (s *stallShim) ID() string { return "test.stall" }
func (s *stallShim) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) == s.path {
		time.Sleep(s.hold)
	}
	return shim.Next(), nil
}

const stallC = `
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static const char *slow, *fast;

static void *slowopen(void *arg) {
	int fd = open(slow, O_RDONLY);
	if (fd >= 0) close(fd);
	printf("slow done\n");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv) {
	slow = argv[1];
	fast = argv[2];
	// Idle first, long enough for the supervisor's watchdog to park.
	usleep(300000);
	pthread_t t;
	pthread_create(&t, 0, slowopen, 0);
	usleep(100000);
	for (int i = 0; i < 50; i++) {
		int fd = open(fast, O_RDONLY);
		if (fd < 0) { printf("fast failed\n"); return 1; }
		close(fd);
	}
	printf("fast done\n");
	fflush(stdout);
	pthread_join(t, 0);
	return 0;
}
`

// TestSlowCallAfterIdle: a call that stalls in a handler, made after the sandbox was idle
// long enough for the watchdog to park, must still hand the waiting to another worker, so
// another thread's opens are answered while it stalls.
func TestSlowCallAfterIdle(t *testing.T) {
	prog := testprog.C(t, stallC, "-pthread")
	dir := t.TempDir()
	slow := filepath.Join(dir, "slow")
	fast := filepath.Join(dir, "fast")
	require.NoError(t, os.WriteFile(slow, nil, 0o644))
	require.NoError(t, os.WriteFile(fast, nil, 0o644))
	handlers := []shim.Registration{{Handler: &stallShim{path: slow, hold: 3 * time.Second}, Band: shim.BandVirtual}}
	status, out, serr := runOut(t, Config{Args: []string{prog, slow, fast}, Handlers: handlers})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "fast done\nslow done\n", out, serr)
}
