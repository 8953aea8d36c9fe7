package launch

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// hammerOpens is the opens per thread: SCRIM_HAMMER_OPENS, 2000 by default, 200 with -short.
func hammerOpens(t *testing.T) int { return knobInt(t, "SCRIM_HAMMER_OPENS", 2000, 200) }

// openFds lists the supervisor's descriptors and what they refer to.
func openFds(t *testing.T) map[string]string {
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	fds := map[string]string{}
	for _, e := range ents {
		link, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fds[e.Name()] = link
	}
	return fds
}

// TestHammer: 8 processes x 8 threads each open served, real, denied, missing and new files;
// every answer must be right, and the supervisor must end with the descriptors it began with.
func TestHammer(t *testing.T) {
	src, err := os.ReadFile("testdata/hammer.c")
	require.NoError(t, err)
	prog := testprog.C(t, string(src))
	dir := t.TempDir()
	benign := filepath.Join(dir, "benign")
	require.NoError(t, os.WriteFile(benign, []byte("BENIGN\n"), 0o644))
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("SECRET\n"), 0o644))
	var st unix.Stat_t
	require.NoError(t, unix.Stat(secret, &st))
	handlers := []shim.Registration{
		{Handler: &denyShim{dev: st.Dev, ino: st.Ino}, Band: shim.BandSecurity},
		{Handler: &fixedShim{id: "test.hosts", path: "/etc/hosts", data: []byte("127.0.0.1 fixed-hosts\n")}, Band: shim.BandVirtual},
	}
	// Warm what is built once per process (kernel probes, test loggers) before counting.
	runOut(t, Config{Args: []string{"true"}})
	before := openFds(t)
	opens := hammerOpens(t)
	status, out, serr := runOut(t, Config{Args: []string{prog, "8", "8", strconv.Itoa(opens), benign, secret}, Handlers: handlers})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "bad=0\n", out, serr)
	// A leak is a descriptor the run left open: every one open now was open before, on the
	// same object. (One open before may be gone: a goroutine of an earlier run that closes
	// its pidfd late is no leak of this one.)
	for fd, link := range openFds(t) {
		require.Equal(t, before[fd], link, "descriptor %s leaked in the supervisor (before: %v)", fd, before)
	}
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, left, 2, "every created file was unlinked")
}

// TestHammerGo: a Go child, whose runtime preempts its threads with SIGURG while they wait in
// notified calls, opens a served and a real file from 8 goroutines; every answer must be right.
func TestHammerGo(t *testing.T) {
	probe := goProbeProgram(t)
	dir := t.TempDir()
	benign := filepath.Join(dir, "benign")
	require.NoError(t, os.WriteFile(benign, []byte("BENIGN\n"), 0o644))
	h := &fixedShim{id: "test.hosts", path: "/etc/hosts", data: []byte("127.0.0.1 fixed-hosts\n")}
	n := strconv.Itoa(hammerOpens(t))
	status, out, serr := runOut(t, Config{
		Args:     []string{probe, "hammer", "-", "/etc/hosts", n, "127.0.0.1 fixed-hosts", "hammer", "-", benign, n, "BENIGN"},
		Handlers: []shim.Registration{{Handler: h, Band: shim.BandVirtual}},
	})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "bad=0\nbad=0\n", out, serr)
}
