// Command plot draws the fleet benchmark's results: verdict latency (p50
// and p99) and CPU against the number of analyses, one line per label.
// It is a module of its own so that the plotting library stays out of
// canaryd's dependencies.
//
//	go run . -o ../../fleet.svg results.jsonl...
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// result holds the fields of benchmarks/fleet's JSON lines that are drawn.
type result struct {
	Label    string  `json:"label"`
	Analyses int     `json:"analyses"`
	P50      float64 `json:"latency_p50_seconds"`
	P99      float64 `json:"latency_p99_seconds"`
	CPU      float64 `json:"cpu_cores"`
}

func main() {
	out := flag.String("o", "fleet.svg", "output file (.svg or .png)")
	only := flag.String("labels", "", "comma-separated labels to draw, in this order (default: every label)")
	flag.Parse()
	var labels []string
	if *only != "" {
		labels = strings.Split(*only, ",")
	}
	if err := run(*out, flag.Args(), labels); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

func read(paths []string) (map[string][]result, []string, error) {
	byLabel := map[string][]result{}
	var labels []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r result
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				f.Close()
				return nil, nil, fmt.Errorf("%s: %w", p, err)
			}
			if _, ok := byLabel[r.Label]; !ok {
				labels = append(labels, r.Label)
			}
			byLabel[r.Label] = append(byLabel[r.Label], r)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, nil, err
		}
	}
	for _, rs := range byLabel {
		slices.SortFunc(rs, func(a, b result) int { return a.Analyses - b.Analyses })
	}
	return byLabel, labels, nil
}

func run(out string, paths, only []string) error {
	if len(paths) == 0 {
		return fmt.Errorf("no result files")
	}
	byLabel, labels, err := read(paths)
	if err != nil {
		return err
	}
	if only != nil {
		for _, l := range only {
			if _, ok := byLabel[l]; !ok {
				return fmt.Errorf("no results labelled %q", l)
			}
		}
		labels = only
	}
	lat := plot.New()
	lat.Title.Text = "Verdict latency (interval end to verdict)"
	lat.X.Label.Text = "concurrent analyses (10 s interval, 10 metrics)"
	lat.Y.Label.Text = "seconds"
	lat.X.Scale, lat.Y.Scale = plot.LogScale{}, plot.LogScale{}
	lat.X.Tick.Marker, lat.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	cpu := plot.New()
	cpu.Title.Text = "CPU (daemon and embedded NATS)"
	cpu.X.Label.Text = lat.X.Label.Text
	cpu.Y.Label.Text = "cores"
	cpu.X.Scale = plot.LogScale{}
	cpu.X.Tick.Marker = plot.LogTicks{Prec: -1}
	cpu.Y.Min = 0

	for i, l := range labels {
		rs := byLabel[l]
		p50, p99, cores := make(plotter.XYs, len(rs)), make(plotter.XYs, len(rs)), make(plotter.XYs, len(rs))
		for j, r := range rs {
			x := float64(r.Analyses)
			p50[j] = plotter.XY{X: x, Y: max(r.P50, 1e-3)}
			p99[j] = plotter.XY{X: x, Y: max(r.P99, 1e-3)}
			cores[j] = plotter.XY{X: x, Y: r.CPU}
		}
		c := plotColor(i)
		if err := addLine(lat, p99, c, nil, l+" p99"); err != nil {
			return err
		}
		if err := addLine(lat, p50, c, []vg.Length{vg.Points(4), vg.Points(3)}, l+" p50"); err != nil {
			return err
		}
		if err := addLine(cpu, cores, c, nil, l); err != nil {
			return err
		}
	}
	xmin, xmax := lat.X.Min, lat.X.Max
	if err := addTarget(lat, xmin, xmax, 1, "target p99 < 1 s"); err != nil {
		return err
	}
	if err := addTarget(cpu, cpu.X.Min, cpu.X.Max, 1, "target < 1 core"); err != nil {
		return err
	}
	lat.Legend.Top, lat.Legend.Left = true, true
	cpu.Legend.Top, cpu.Legend.Left = true, true

	const w, h = 11 * vg.Inch, 5 * vg.Inch
	var (
		c    vg.CanvasSizer
		save func() error
	)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if strings.HasSuffix(out, ".png") {
		img := vgimg.New(w, h)
		c = img
		save = func() error { _, err := vgimg.PngCanvas{Canvas: img}.WriteTo(f); return err }
	} else {
		svg := vgsvg.New(w, h)
		c = svg
		save = func() error { _, err := svg.WriteTo(f); return err }
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2}
	lat.Draw(tiles.At(dc, 0, 0))
	cpu.Draw(tiles.At(dc, 1, 0))
	if err := save(); err != nil {
		return err
	}
	return f.Close()
}

func addLine(p *plot.Plot, xys plotter.XYs, c color.Color, dashes []vg.Length, name string) error {
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, pts.Color = c, c
	l.Dashes = dashes
	p.Add(l, pts)
	p.Legend.Add(name, l, pts)
	return nil
}

func addTarget(p *plot.Plot, xmin, xmax, y float64, name string) error {
	l, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: y}, {X: xmax, Y: y}})
	if err != nil {
		return err
	}
	l.Color = color.Gray{Y: 128}
	l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func plotColor(i int) color.Color {
	cs := []color.Color{
		color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
		color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
		color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
		color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
	}
	return cs[i%len(cs)]
}
