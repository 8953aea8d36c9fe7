package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// raceSeconds is how long TestPathRace runs: SCRIM_RACE_SECONDS, 10 by default (CI).
func raceSeconds(t *testing.T) float64 { return knob(t, "SCRIM_RACE_SECONDS", 10, 1) }

// TestPathRace: a thread flips the path buffer between a benign file and two protected ones
// (one served, one denied) while three threads open it through open, openat and openat2. The
// path is read once, so no open may ever return a protected file's real bytes.
func TestPathRace(t *testing.T) {
	src, err := os.ReadFile("testdata/race.c")
	require.NoError(t, err)
	prog := testprog.C(t, string(src))
	dir := t.TempDir()
	benign := filepath.Join(dir, "benign")
	require.NoError(t, os.WriteFile(benign, []byte("BENIGN\n"), 0o644))
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("SECRET\n"), 0o644))
	var st unix.Stat_t
	require.NoError(t, unix.Stat(secret, &st))
	real, err := os.ReadFile("/etc/hosts")
	require.NoError(t, err)
	prefix := string(real[:min(len(real), 16)])
	require.NotEqual(t, "127.0.0.1 fixed-", prefix, "the real /etc/hosts must differ from the served one")

	handlers := []shim.Registration{
		{Handler: &denyShim{dev: st.Dev, ino: st.Ino}, Band: shim.BandSecurity},
		{Handler: &fixedShim{id: "test.hosts", path: "/etc/hosts", data: []byte("127.0.0.1 fixed-hosts\n")}, Band: shim.BandVirtual},
	}
	secs := raceSeconds(t)
	status, out, serr := runOut(t, Config{Args: []string{prog, fmt.Sprint(secs), benign, "/etc/hosts", secret, prefix}, Handlers: handlers})
	require.Equal(t, 0, status, serr)
	var opens, ben, served, denied, other, leaks int
	_, err = fmt.Sscanf(out, "opens=%d benign=%d served=%d denied=%d other=%d leaks=%d", &opens, &ben, &served, &denied, &other, &leaks)
	require.NoError(t, err, out)
	t.Logf("%.1fs: %s", secs, out)
	require.Zero(t, leaks, serr)
	require.Positive(t, ben, "the benign file was never opened: the race did not run")
	require.Positive(t, served, "the served file was never opened: the race did not run")
}
