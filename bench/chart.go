package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// chartDir is where the charts go, relative to the report.
const chartDir = "benchmarks"

// charts draws the report's PNG charts into dir.
func charts(dir string, cs []*Contender, scs []*Scenario, res *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create chart directory: %w", err)
	}
	var live []*Contender
	for _, c := range cs {
		// The container contenders run their own scenarios only; the report's table has them.
		if c.Skip == "" && !c.Container {
			live = append(live, c)
		}
	}
	files := []string{filePass, fileHosts, filePlugin, fileDenied}

	// Latency of one open, per file.
	var groups [][]float64
	for _, c := range live {
		var vs []float64
		for _, f := range files {
			m, _ := res.Median(findOpen(scs, f, 1).Key, c.Key)
			vs = append(vs, m.Value/1e3)
		}
		groups = append(groups, vs)
	}
	short := []string{"passthrough", "builtin", "plugin", "denied"}
	if err := bars(filepath.Join(dir, "open.png"), "open+close, one thread (lower is better)", "µs per open",
		short, live, groups); err != nil {
		return err
	}

	// Whole programs, as a ratio to native.
	var macro []*Scenario
	for _, s := range scs {
		// Start-up of `true` is left out: its ratios are in the hundreds and would flatten
		// the rest; the report's table has them.
		if s.Group == groupMacro {
			macro = append(macro, s)
		}
	}
	var names []string
	for _, s := range macro {
		names = append(names, s.Key)
	}
	groups = nil
	for _, c := range live {
		var vs []float64
		for _, s := range macro {
			m, ok1 := res.Median(s.Key, c.Key)
			n, ok2 := res.Median(s.Key, "native")
			if ok1 && ok2 && n.Value > 0 {
				vs = append(vs, m.Value/n.Value)
			} else {
				vs = append(vs, 0)
			}
		}
		groups = append(groups, vs)
	}
	if err := bars(filepath.Join(dir, "macro.png"), "whole programs (lower is better)", "time / native time",
		names, live, groups); err != nil {
		return err
	}

	if err := scaling(filepath.Join(dir, "scaling.png"), live, scs, res); err != nil {
		return err
	}
	return startup(filepath.Join(dir, "startup.png"), scs, res)
}

// bars draws a grouped bar chart: one group per name, one bar per contender.
func bars(path, title, ylabel string, names []string, cs []*Contender, groups [][]float64) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	// Leave the top third free for the legend.
	top := 0.0
	for _, g := range groups {
		for _, v := range g {
			top = max(top, v)
		}
	}
	p.Y.Max = top * 1.5
	// About 560 points of plotting width, 80% of each group's slot filled with bars.
	w := vg.Points(560 * 0.8 / float64(len(names)) / float64(len(cs)))
	for i, c := range cs {
		b, err := plotter.NewBarChart(plotter.Values(groups[i]), w)
		if err != nil {
			return fmt.Errorf("draw %s: %w", filepath.Base(path), err)
		}
		b.LineStyle.Width = 0
		b.Color = plotutil.Color(i)
		b.Offset = w * vg.Length(float64(i)-float64(len(cs)-1)/2)
		p.Add(b)
		p.Legend.Add(c.Name, b)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	p.NominalX(names...)
	return save(p, path, 9*vg.Inch, 4.5*vg.Inch)
}

// scaling draws opens per second against threads for the passthrough file, on a log scale so
// native and the sandboxes fit on one chart.
func scaling(path string, cs []*Contender, scs []*Scenario, res *Results) error {
	p := plot.New()
	p.Title.Text = "open throughput, passthrough file (higher is better)"
	p.X.Label.Text = "threads"
	p.Y.Label.Text = "opens per second"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 1, Label: "1"}, {Value: 2, Label: "2"}, {Value: 4, Label: "4"}, {Value: 8, Label: "8"}})
	for i, c := range cs {
		var pts plotter.XYs
		for _, n := range threadCounts {
			if m, ok := res.Median(findOpen(scs, filePass, n).Key, c.Key); ok && m.Rate > 0 {
				pts = append(pts, plotter.XY{X: float64(n), Y: m.Rate})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("draw scaling: %w", err)
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		l.Width = vg.Points(1.5)
		s.Shape = plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(c.Name, l, s)
	}
	// Native and the mount-namespace sandboxes sit near the top: leave a decade free above
	// them for the legend.
	p.Y.Max *= 20
	p.X.Min, p.X.Max = 0.5, 8.5
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return save(p, path, 9*vg.Inch, 5*vg.Inch)
}

// startup draws scrim's start-up time by configuration.
func startup(path string, scs []*Scenario, res *Results) error {
	var names []string
	var vs plotter.Values
	if m, ok := res.Median("true", "strict"); ok {
		names = append(names, "0 plugins")
		vs = append(vs, m.Value*1e3)
	}
	for _, s := range scs {
		if s.Group == groupStartup && s.Key != "true" {
			m, _ := res.Median(s.Key, "strict")
			names = append(names, strings.TrimPrefix(s.Title, "scrim start-up, "))
			vs = append(vs, m.Value*1e3)
		}
	}
	p := plot.New()
	p.Title.Text = "scrim run -- true, strict mode (lower is better)"
	p.Y.Label.Text = "ms"
	b, err := plotter.NewBarChart(vs, vg.Points(40))
	if err != nil {
		return fmt.Errorf("draw start-up: %w", err)
	}
	b.LineStyle.Width = 0
	b.Color = plotutil.Color(1)
	p.Add(b)
	// The cold rows dwarf the others: print every value above its bar.
	var xy plotter.XYLabels
	for i, v := range vs {
		xy.XYs = append(xy.XYs, plotter.XY{X: float64(i), Y: v})
		xy.Labels = append(xy.Labels, fmt.Sprintf("%.0f ms", v))
	}
	l, err := plotter.NewLabels(xy)
	if err != nil {
		return fmt.Errorf("draw start-up: %w", err)
	}
	l.Offset = vg.Point{X: -vg.Points(14), Y: vg.Points(3)}
	p.Add(l)
	p.Add(plotter.NewGrid())
	p.NominalX(names...)
	p.Y.Max *= 1.1
	return save(p, path, 9*vg.Inch, 4*vg.Inch)
}

func save(p *plot.Plot, path string, w, h vg.Length) error {
	if err := p.Save(w, h, path); err != nil {
		return fmt.Errorf("save chart %s: %w", path, err)
	}
	return nil
}
