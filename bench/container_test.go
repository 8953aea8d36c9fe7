package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestContainers runs the container scenarios once with tiny counts (`-smoke -only
// containers`): every workload natively, under scrim run, in a plain runc container and in one
// served by scrim's agent. It checks that each produced a number, that the agent's audit log
// holds the open loop's opens and Python's, all from the served container and none from the
// plain one, and that the partial report has the section. Root and runc only: runc needs both.
func TestContainers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: runc runs containers as root only")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("skipped: runc is not installed (Debian package runc)")
	}
	root, err := moduleRoot()
	require.NoError(t, err)
	cfg := smokeConfig()
	cfg.Root = root
	cfg.Out = t.TempDir()
	cfg.Group = groupContainers
	cfg.AgentAudit = filepath.Join(t.TempDir(), "agent-audit.jsonl")
	cfg.Progress = testWriter{t}
	require.NoError(t, Run(context.Background(), cfg))

	raw, err := os.ReadFile(filepath.Join(cfg.Out, chartDir, "samples.json"))
	require.NoError(t, err)
	var res Results
	require.NoError(t, json.Unmarshal(raw, &res))
	require.Empty(t, res.Failed)
	for _, s := range containerWorkloads {
		for _, c := range []string{"native", "strict", keyRunc, keyRuncAgent} {
			xs := res.Samples[s][c]
			require.Len(t, xs, cfg.Rounds, "%s under %s", s, c)
			for _, x := range xs {
				require.Positive(t, x.Value, "%s under %s", s, c)
				require.Zero(t, x.Failed, "%s under %s", s, c)
				if s != "ctr-open" {
					require.Less(t, x.Value, 60.0, "%s under %s: seconds", s, c)
				}
			}
		}
	}

	// The warm-up and the measured rounds each ran the loop, and the probe read /etc/hosts.
	served, plain := containerID(keyRuncAgent), containerID(keyRunc)
	var loopOpens, pythonOpens, hosts int
	f, err := os.Open(cfg.AgentAudit)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Container, Syscall, Path, Verdict string
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), sc.Text())
		require.NotEqual(t, plain, rec.Container, "the plain runc container reached the agent: %s", sc.Text())
		require.Equal(t, served, rec.Container, sc.Text())
		switch {
		case strings.HasSuffix(rec.Path, "/passthrough.txt") && strings.HasPrefix(rec.Syscall, "open"):
			require.Equal(t, "real", rec.Verdict, sc.Text())
			loopOpens++
		case strings.HasPrefix(rec.Path, "/usr/lib/python3") && strings.HasPrefix(rec.Syscall, "open"):
			pythonOpens++
		case rec.Path == hostsPath && rec.Verdict == "serve":
			hosts++
		}
	}
	require.NoError(t, sc.Err())
	require.Equal(t, (cfg.Rounds+1)*cfg.Ops, loopOpens)
	require.Positive(t, pythonOpens)
	require.Positive(t, hosts, "the probe's cat /etc/hosts was served by the hosts shim")

	md, err := os.ReadFile(filepath.Join(cfg.Out, "benchmarks.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "## Containers")
	require.Contains(t, string(md), "| runc | runc version")
	require.NotContains(t, string(md), "## Failures")
	require.NotContains(t, string(md), "Not measured")
}

// TestContainerSection renders the containers section from made-up medians: values in each
// workload's unit, the two ratios, the per-open difference, and a skipped contender's reason.
func TestContainerSection(t *testing.T) {
	res := &Results{Samples: map[string]map[string][]Sample{}, Failed: map[string]map[string]string{}}
	for _, v := range []struct {
		s, c string
		v    float64
	}{
		{"ctr-open", "native", 1500}, {"ctr-open", "strict", 30000}, {"ctr-open", keyRunc, 1600}, {"ctr-open", keyRuncAgent, 36000},
		{"ctr-python", "native", 0.080}, {"ctr-python", "strict", 0.100}, {"ctr-python", keyRunc, 0.082}, {"ctr-python", keyRuncAgent, 0.123},
		{"ctr-true", "native", 0.0015}, {"ctr-true", "strict", 0.020}, {"ctr-true", keyRunc, 0.030}, {"ctr-true", keyRuncAgent, 0.036},
	} {
		res.add(v.s, v.c, Sample{Value: v.v})
	}
	var cs []*Contender
	for _, c := range contenders() {
		switch c.Key {
		case "native", "strict", keyRunc, keyRuncAgent:
			cs = append(cs, c)
		}
	}
	scs := scenarios(fullConfig())
	got := containerSection(res, scs, cs)
	for _, want := range []string{
		"## Containers\n",
		"| open+close passthrough, 1 thread (µs) | 1.50 | 30.00 | 20.00× | 1.60 | 36.00 | 22.50× |\n",
		"| Python: " + pythonImports + " (s) | 0.080 | 0.100 | 1.25× | 0.082 | 0.123 | 1.50× |\n",
		"| start-up: `true` (ms) | 1.5 | 20.0 | 13.33× | 30.0 | 36.0 | 1.20× |\n",
		"the agent added 34.40 µs to the container and scrim run 28.50 µs to the native program",
	} {
		require.Contains(t, got, want)
	}

	cs[3].Skip = "runc runs containers as root only"
	got = containerSection(res, scs, cs)
	require.Contains(t, got, "| open+close passthrough, 1 thread (µs) | 1.50 | 30.00 | 20.00× | 1.60 | skipped | – |\n")
	require.Contains(t, got, "Not measured: runc + scrim agent (runc runs containers as root only)")

	require.Empty(t, containerSection(res, scs, cs[:2]), "no container contender, no section")
}
