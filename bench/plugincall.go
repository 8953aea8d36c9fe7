package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// probePath is a file the C SDK's probe plugin serves ("hello\n").
const probePath = "/probe/greeting"

// pluginCallRuns is how many sandboxes pluginCalls starts; the report gives their median.
const pluginCallRuns = 5

// pluginCalls measures the C SDK probe plugin's own call as the audit log's per-plugin counters
// report it (mean_us): scrim strict with the probe plugins (configuration "probes", the C one
// first, so it answers /probe/**) runs the open loop on probePath with --audit, after a pause
// so that the plugins have finished loading in the background. It records each run's mean_us,
// or why there is none.
func (res *Results) pluginCalls(ctx context.Context, e *env) {
	dir, err := os.MkdirTemp(e.work, "plugincall-")
	if err != nil {
		res.PluginCallSkip = err.Error()
		return
	}
	defer os.RemoveAll(dir)
	for i := 0; i < pluginCallRuns; i++ {
		log := filepath.Join(dir, fmt.Sprintf("audit%d.jsonl", i))
		loop := fmt.Sprintf("sleep 1; exec %s %s %d 1", e.openloop, probePath, e.cfg.Ops)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		out, err := exec.CommandContext(cctx, e.scrim, "run", "-c", e.scrimCfg["probes"], "--audit", log, "--", e.sh, "-c", loop).CombinedOutput()
		cancel()
		if err != nil {
			res.PluginCallSkip = fmt.Sprintf("scrim run: %v: %s", err, oneLine(out))
			return
		}
		mean, err := probeMeanMicros(log)
		if err != nil {
			res.PluginCallSkip = err.Error()
			return
		}
		res.PluginCallMicros = append(res.PluginCallMicros, mean)
	}
}

// probeMeanMicros reads the C probe's counters record from an audit log.
func probeMeanMicros(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Plugin string   `json:"plugin"`
			Calls  uint64   `json:"calls"`
			Mean   *float64 `json:"mean_us"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Plugin == "cprobe" && rec.Mean != nil {
			if rec.Calls == 0 {
				return 0, fmt.Errorf("audit log %s: the C probe plugin was never called", path)
			}
			return *rec.Mean, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("audit log %s: no counters record of the C probe plugin", path)
}
