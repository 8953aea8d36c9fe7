package supervisor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// runOut runs args under a supervisor with handlers and returns the status, stdout and stderr.
func runOut(t *testing.T, cfg Config) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	outf, err := os.Create(filepath.Join(dir, "stdout"))
	require.NoError(t, err)
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	require.NoError(t, err)
	defer outf.Close()
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
	require.NoError(t, err)
	out, err := os.ReadFile(outf.Name())
	require.NoError(t, err)
	serr, err := os.ReadFile(errf.Name())
	require.NoError(t, err)
	return status, string(out), string(serr)
}

// testLogger logs warnings and errors, or the level SCRIM_TEST_LOG names.
func testLogger() hclog.Logger {
	level := hclog.Warn
	if l := os.Getenv("SCRIM_TEST_LOG"); l != "" {
		level = hclog.LevelFromString(l)
	}
	return hclog.New(&hclog.LoggerOptions{Level: level, Output: os.Stderr})
}

type fixedShim struct {
	id   string
	path string
	data []byte
}

func (f *fixedShim) ID() string { return f.id }
func (f *fixedShim) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if string(req.Path) == f.path {
		return shim.ServeBytes(f.id, f.data), nil
	}
	return shim.Next(), nil
}

func TestRunSmoke(t *testing.T) {
	status, out, serr := runOut(t, Config{
		Args:     []string{"sh", "-c", "cat /etc/hosts; head -c 5 /etc/passwd; exit 3"},
		Handlers: []shim.Registration{{Handler: &fixedShim{id: "test.hosts", path: "/etc/hosts", data: []byte("127.0.0.1 fixed\n")}, Band: shim.BandVirtual}},
	})
	t.Log(serr)
	require.Equal(t, 3, status)
	require.True(t, bytes.HasPrefix([]byte(out), []byte("127.0.0.1 fixed\nroot:")), out)
}
