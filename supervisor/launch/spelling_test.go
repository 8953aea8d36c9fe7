package launch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/probes"
	"github.com/scrim-sandbox/scrim/internal/testprog"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// denyShim denies one object by identity, whatever the spelling.
type denyShim struct{ dev, ino uint64 }

func (d *denyShim) ID() string { return "test.deny" }
func (d *denyShim) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if req.Object.Exists && req.Object.Dev == d.dev && req.Object.Ino == d.ino {
		return shim.Deny(unix.EACCES), nil
	}
	return shim.Next(), nil
}

func probeProgram(t *testing.T) string {
	src, err := os.ReadFile("testdata/probe.c")
	require.NoError(t, err)
	return testprog.C(t, string(src))
}

// probeCase is one open the probe program makes; the table is shared with the container
// tests (internal/probes).
type probeCase = probes.Case

// spellings lists every way of naming target that the resolver must see through
// (probes.Spellings), with its symlinks made in links, a scratch directory.
func spellings(t *testing.T, target, links, read, write string) []probeCase {
	cases, ls := probes.Spellings(target, links, read, write)
	require.NoError(t, probes.MakeLinks("/", ls))
	return cases
}

func goProbeProgram(t *testing.T) string {
	src, err := os.ReadFile("testdata/probe.go")
	require.NoError(t, err)
	return testprog.Go(t, string(src))
}

func TestSpellings(t *testing.T) {
	t.Run("C", func(t *testing.T) { testSpellings(t, probeProgram(t)) })
	t.Run("Go", func(t *testing.T) { testSpellings(t, goProbeProgram(t)) })
}

func testSpellings(t *testing.T, probe string) {
	secretDir := t.TempDir()
	require.NoError(t, os.Chmod(secretDir, 0o755))
	secret := filepath.Join(secretDir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("SECRET-REAL\n"), 0o644))
	var st unix.Stat_t
	require.NoError(t, unix.Stat(secret, &st))

	handlers := []shim.Registration{
		{Handler: &denyShim{dev: st.Dev, ino: st.Ino}, Band: shim.BandSecurity},
		{Handler: &fixedShim{id: "test.hosts", path: "/etc/hosts", data: []byte("127.0.0.1 fixed-hosts\n")}, Band: shim.BandVirtual},
		{Handler: &fixedShim{id: "test.cpuinfo", path: "/proc/cpuinfo", data: []byte("processor : fixed\n")}, Band: shim.BandVirtual},
	}
	targets := []struct {
		name, path, read, write string
	}{
		{"hosts", "/etc/hosts", "OK 127.0.0.1 fixed-hosts.", "EROFS -"},
		{"cpuinfo", "/proc/cpuinfo", "OK processor : fixed.", "EROFS -"},
		{"denied", secret, "EACCES -", "EACCES -"},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			links := t.TempDir()
			cases := spellings(t, tg.path, links, tg.read, tg.write)
			var args []string
			for _, c := range cases {
				args = append(args, c.Args()...)
			}
			status, out, serr := runOut(t, Config{Args: append([]string{probe}, args...), Handlers: handlers})
			require.Equal(t, 0, status, serr)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			require.Len(t, lines, len(cases), out)
			for i, c := range cases {
				require.Equal(t, c.Want, lines[i], "case %q: %v", c.Name, c.Args())
			}
			// /dev/stdin redirected by the launcher from the target itself.
			if tg.name != "cpuinfo" {
				in, err := os.Open(tg.path)
				require.NoError(t, err)
				defer in.Close()
				c := probeCase{Op: "open", Path: "/dev/stdin", Flags: "0"}
				status, out, serr := runOut(t, Config{Args: append([]string{probe}, c.Args()...), Handlers: handlers, Stdin: in})
				require.Equal(t, 0, status, serr)
				require.Equal(t, tg.read+"\n", out, fmt.Sprintf("/dev/stdin from %s", tg.path))
			}
		})
	}
}
