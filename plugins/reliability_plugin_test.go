package plugins

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/supervisor/launch"
)

// TestFaultPluginMidRun runs a real sandbox with two plugins: info (a working Go plugin) and
// one that fails on every call, by trapping, by running past its timeout, or by growing its
// memory past the cap. The program keeps running through the failures: each failed open is
// EIO (fail closed), the working plugin and real files keep answering, the failed instance is
// replaced, and nothing hangs.
func TestFaultPluginMidRun(t *testing.T) {
	tests := []struct {
		name, module string
		timeout      time.Duration
		counter      func(Stats) uint64
	}{
		{"trap", "trap", time.Second, func(s Stats) uint64 { return s.Traps }},
		{"timeout", "loop", 100 * time.Millisecond, func(s Stats) uint64 { return s.Timeouts }},
		{"memory exhausted", "membomb", time.Second, func(s Stats) uint64 { return s.Traps }},
	}
	// Three rounds: a working plugin, a failing one, a real file, with the failing plugin
	// replaced (and then switched off by its circuit breaker) in between.
	script := `for i in 1 2 3; do
  grep -q '^sandbox=scrim$' /run/scrim/info && echo info-ok || echo info-bad
  cat /t/x 2>&1 >/dev/null | grep -q 'Input/output error' && echo fault-eio || echo fault-other
  cat /etc/hostname >/dev/null && echo real-ok || echo real-bad
done`
	want := strings.Repeat("info-ok\nfault-eio\nreal-ok\n", 3)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Load(context.Background(), []Spec{
				{Name: "info", Path: example("info")},
				{Name: tt.module, Path: testdata(tt.module), Timeout: tt.timeout, MemoryBytes: 4 << 20, Instances: 1},
			}, Options{CacheDir: cacheDir})
			require.NoError(t, err)
			defer func() { require.NoError(t, h.Close(context.Background())) }()

			out, err := os.Create(filepath.Join(t.TempDir(), "out"))
			require.NoError(t, err)
			defer out.Close()
			s, err := launch.New(launch.Config{Args: []string{"sh", "-c", script}, Handlers: h.Registrations(), Stdout: out})
			require.NoError(t, err)
			start := time.Now()
			status, err := s.Run(context.Background())
			require.NoError(t, err)
			require.Equal(t, 0, status)
			require.Less(t, time.Since(start), 30*time.Second, "a failing plugin held the program up")
			got, err := os.ReadFile(out.Name())
			require.NoError(t, err)
			require.Equal(t, want, string(got))

			var failing, info Stats
			for _, st := range h.Stats() {
				switch st.Name {
				case tt.module:
					failing = st
				case "info":
					info = st
				}
			}
			require.Equal(t, uint64(3), info.Calls, "the working plugin answered every round: %+v", info)
			require.Zero(t, info.Faults, "%+v", info)
			require.GreaterOrEqual(t, tt.counter(failing), uint64(1), "%+v", failing)
			require.GreaterOrEqual(t, failing.Replaced, uint64(1), "a failed instance is replaced: %+v", failing)
			t.Logf("%s: %+v", tt.module, failing)
		})
	}
}
