package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestSmoke runs the whole harness with tiny counts so that it never rots: every scenario for
// every contender present, the report and the charts. It takes a minute or two, so it runs
// only in CI (CI=true) or when SCRIM_BENCH_SMOKE=1. It fails if scrim cannot run a scenario;
// a third-party sandbox that is missing or refuses to run is skipped with its reason printed.
func TestSmoke(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("SCRIM_BENCH_SMOKE") != "1" {
		t.Skip("the benchmark smoke run takes a minute or two: set SCRIM_BENCH_SMOKE=1 (CI sets CI=true)")
	}
	root, err := moduleRoot()
	require.NoError(t, err)
	cfg := smokeConfig()
	cfg.Root = root
	cfg.Out = t.TempDir()
	cfg.Progress = testWriter{t}
	require.NoError(t, Run(context.Background(), cfg))

	md, err := os.ReadFile(filepath.Join(cfg.Out, "benchmarks.md"))
	require.NoError(t, err)
	for _, want := range []string{"## Targets", "scrim strict", "C floor", "| passthrough |", "kernel"} {
		require.Contains(t, string(md), want)
	}
	require.NotContains(t, string(md), "NO DATA", "a target had no numbers from scrim")
	require.Contains(t, string(md), "## Where an open's time goes")
	if _, err := exec.LookPath("perf"); err == nil && os.Geteuid() == 0 {
		// As root with perf, the breakdown must have been measured, not skipped.
		require.Contains(t, string(md), "| strict, plugin (/etc/motd) |")
	}
	if _, err := exec.LookPath("runc"); err == nil && os.Geteuid() == 0 {
		// As root with runc, the containers have their section and no column elsewhere.
		require.Contains(t, string(md), "## Containers")
		require.Contains(t, string(md), "| file | native | scrim strict |")
		require.NotRegexp(t, `(?m)^\| file \|.*runc`, string(md))
	}
	for _, png := range []string{"open.png", "scaling.png", "macro.png", "startup.png"} {
		b, err := os.ReadFile(filepath.Join(cfg.Out, chartDir, png))
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(b), "\x89PNG"), "%s is not a PNG", png)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestParseOpenLoop(t *testing.T) {
	for _, tc := range []struct {
		name       string
		out        string
		wantNs     float64
		wantRate   float64
		wantFailed int64
		wantErr    bool
	}{
		{name: "plain", out: "ops=1000 ns=2000000 failed=0\n", wantNs: 2000, wantRate: 500000},
		{name: "denied", out: "ops=10 ns=100 failed=10\n", wantNs: 10, wantRate: 1e8, wantFailed: 10},
		{name: "after noise", out: "warning: something\nops=4 ns=8 failed=1\n", wantNs: 2, wantRate: 5e8, wantFailed: 1},
		{name: "empty", out: "", wantErr: true},
		{name: "zero time", out: "ops=4 ns=0 failed=0\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, failed, err := parseOpenLoop([]byte(tc.out))
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.InDelta(t, tc.wantNs, s.Value, 1e-9)
			require.InDelta(t, tc.wantRate, s.Rate, 1e-3)
			require.Equal(t, tc.wantFailed, failed)
		})
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"odd", []float64{5, 1, 3}, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var xs []Sample
			for _, v := range tc.in {
				xs = append(xs, Sample{Value: v})
			}
			require.Equal(t, tc.want, median(xs, func(s Sample) float64 { return s.Value }))
		})
	}
}

// TestTargets checks the verdicts on made-up medians: a target passes on its boundary, misses
// past it, and says NO DATA when a contender it needs has no numbers.
func TestTargets(t *testing.T) {
	res := &Results{Samples: map[string]map[string][]Sample{}, Failed: map[string]map[string]string{}}
	res.add("open-pass-1", "strict", Sample{Value: 15000, Rate: 1000})
	res.add("open-pass-1", "floor", Sample{Value: 10000})
	res.add("open-hosts-1", "strict", Sample{Value: 16000})
	res.add("open-pass10-1", "strict", Sample{Value: 15750})
	res.add("true", "strict", Sample{Value: 0.020})
	res.add("start-p5-warm", "strict", Sample{Value: 0.071})
	res.add("open-pass-8", "strict", Sample{Rate: 1400})
	res.add("python", "strict", Sample{Value: 1.2})
	res.add("python", "native", Sample{Value: 1.0})
	res.add("python", "proot", Sample{Value: 6.0})
	res.add("shell", "strict", Sample{Value: 1})
	res.add("shell", "proot", Sample{Value: 5})
	res.add("rss", "strict", Sample{Value: 40})
	res.add("tar", "strict", Sample{Value: 1})
	res.fail("tar", "proot", "refused")
	res.add("open-pass-1", "fast", Sample{Value: 14000})
	res.add("open-pass-1", "inject", Sample{Value: 15000})
	res.add("open-pass-cpu0-1", "strict", Sample{Value: 13000})
	res.add("open-pass-cpu0-1", "inject", Sample{Value: 10000})
	res.add("open-pass-cpu0-1", "fast", Sample{Value: 14000})
	res.add("open-pass-cpu0-1", "floor", Sample{Value: 10000})
	res.add("tar", "inject", Sample{Value: 0.8})
	res.add("open-plugin-1", "strict", Sample{Value: 24000})
	res.add("true", "bwrap", Sample{Value: 0.008})
	res.add("python", "inject", Sample{Value: 1.0})
	res.add("rss-p0", "strict", Sample{Value: 12})
	res.PluginCallMicros = []float64{4, 9, 5}

	want := map[string]string{
		"strict passthrough open vs the C floor":                               "PASS",
		"strict builtin-served open (/etc/hosts) vs strict passthrough open":   "MISS",
		"strict unclaimed open, 10 plugins loaded vs none":                     "PASS",
		"start-up, 5 plugins with a warm cache, added over none":               "MISS",
		"Python import workload, strict vs native":                             "MISS",
		"scrim strict faster than proot: Python import":                        "PASS",
		"scrim strict faster than proot: shell script":                         "PASS",
		"scrim strict faster than proot: tar":                                  "NO DATA",
		"scrim strict faster than proot: go build":                             "NO DATA",
		"strict open throughput, 8 threads vs 1 thread (passthrough)":          "MISS",
		"supervisor peak RSS, five plugins":                                    "PASS",
		"fast passthrough open vs the C CONTINUE floor":                        "PASS",
		"strict passthrough open vs the C inject floor":                        "PASS",
		"strict passthrough open vs the C inject floor, both on CPU 0":         "PASS",
		"fast passthrough open vs the C CONTINUE floor, both on CPU 0":         "MISS",
		"strict vs the C inject floor: shell script":                           "NOT MEASURED (inject did not run)",
		"fast vs the C CONTINUE floor: shell script":                           "NO DATA",
		"strict vs the C inject floor: tar":                                    "PASS",
		"fast vs the C CONTINUE floor: tar":                                    "NO DATA",
		"strict vs the C inject floor: go build":                               "NO DATA",
		"fast vs the C CONTINUE floor: go build":                               "NO DATA",
		"strict plugin-served open (/etc/motd) vs builtin-served (/etc/hosts)": "PASS",
		"start-up (`true`), scrim strict vs bubblewrap":                        "MISS",
		"Python import workload, strict vs the C inject floor":                 "MISS",
		"supervisor peak RSS, no plugin":                                       "PASS",
		"supervisor peak RSS, the C, Rust and AssemblyScript probe plugins":    "NO DATA",
		"C SDK probe plugin's own call (the audit log's mean_us)":              "PASS",
	}
	ts := targets(res)
	require.Len(t, ts, len(want))
	for _, tg := range ts {
		t.Run(tg.Name, func(t *testing.T) {
			require.Equal(t, want[tg.Name], tg.verdict())
		})
	}
}

// TestNiceness checks the report's priority against the kernel's answer; getpriority(2)'s raw
// system call returns 20 minus the nice value.
func TestNiceness(t *testing.T) {
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	require.NoError(t, err)
	require.Equal(t, 20-raw, niceness())
}

// TestCharts draws every chart from made-up results, one contender skipped and one scenario
// failed, so that a missing number never stops the report. BENCH_CHART_DIR keeps the files.
func TestCharts(t *testing.T) {
	cs := contenders()
	cs[len(cs)-1].Skip = "not installed"
	scs := scenarios(fullConfig())
	res := &Results{Samples: map[string]map[string][]Sample{}, Failed: map[string]map[string]string{}}
	for i, s := range scs {
		for j, c := range cs {
			v := float64(1+i%5) * float64(1+j)
			res.add(s.Key, c.Key, Sample{Value: v * 1000, Rate: 1e6 / v})
		}
	}
	res.fail("python", "proot", "refused")
	dir := os.Getenv("BENCH_CHART_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, charts(dir, cs, scs, res))
	for _, png := range []string{"open.png", "scaling.png", "macro.png", "startup.png"} {
		b, err := os.ReadFile(filepath.Join(dir, png))
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(b), "\x89PNG"), "%s is not a PNG", png)
	}
}
