// Command bench measures what scrim costs next to what a user would pick instead, on the same
// machine and in the same run, and writes docs/benchmarks.md and its charts.
//
//	go run ./bench -full     # every scenario, several rounds: reproduces docs/benchmarks.md
//	go run ./bench -smoke    # tiny counts, one round, writes to a temporary directory
//	go run ./bench -full -only containers   # the container scenarios alone, to a temporary directory
//
// Contenders run in alternation: every round runs every scenario once for every contender, in
// an order that rotates from round to round, so that drift in the machine (page cache, CPU
// frequency, a noisy neighbour) spreads over all of them instead of landing on one. The first
// round warms caches and is thrown away; the report gives medians of the others.
//
// The harness builds its own helpers (the C floor supervisor and the open loop, with gcc; scrim
// itself, with go build) and checks which third-party sandboxes are installed. One that is
// missing or refuses to run here is skipped with the reason printed; scrim failing is an error.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	var (
		full   = flag.Bool("full", false, "run every scenario with full counts and write the report into the repository")
		smoke  = flag.Bool("smoke", false, "run every scenario once with tiny counts, report into a temporary directory")
		out    = flag.String("out", "", "directory that receives benchmarks.md and the charts (default: docs/ for -full, a temporary directory for -smoke)")
		rounds = flag.Int("rounds", 0, "measured rounds after the warm-up round (default: 7 for -full, 1 for -smoke)")
		only   = flag.String("contenders", "", "comma-separated contender keys to run (default: all present)")
		base   = flag.String("baseline", "", "also measure scrim strict as built at this git revision (contender \"baseline\"), beside the working tree's, for a before-and-after in one run")
		group  = flag.String("only", "", "run one scenario group alone: \"containers\" (a partial report, to a temporary directory unless -out)")
	)
	flag.Parse()
	if *full == *smoke {
		fmt.Fprintln(os.Stderr, "bench: give exactly one of -full or -smoke")
		os.Exit(2)
	}

	cfg := smokeConfig()
	if *full {
		cfg = fullConfig()
	}
	if *rounds > 0 {
		cfg.Rounds = *rounds
	}
	cfg.Only = *only
	cfg.Baseline = *base
	// Only the container group has a report section of its own to stand on.
	if *group != "" && *group != groupContainers {
		fmt.Fprintf(os.Stderr, "bench: -only takes %q\n", groupContainers)
		os.Exit(2)
	}
	cfg.Group = *group
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	cfg.Root = root
	switch {
	case *out != "":
		cfg.Out = *out
	case *full && *group == "":
		cfg.Out = filepath.Join(root, "docs")
	default:
		dir, err := os.MkdirTemp("", "scrim-bench-smoke-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		cfg.Out = dir
	}
	cfg.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s\n", filepath.Join(cfg.Out, "benchmarks.md"))
}

// moduleRoot finds the directory holding scrim's go.mod, walking up from the working
// directory, so that both `go run ./bench` at the top and `go test` inside bench/ work.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "cmd", "scrim")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find module root: no go.mod with cmd/scrim above the working directory")
		}
		dir = parent
	}
}
