// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/ebbscale/ebb/cmd/ebb/internal/chart"
)

var palette = []color.RGBA{
	{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// WritePlot writes a PNG chart to path: each trigger's series on top (of
// the first run; a compared run replays the same series), the replicas of
// every run below, on one time axis in seconds since the start.
func WritePlot(path string, results []*Result) error {
	if len(results) == 0 {
		return fmt.Errorf("plot %s: no run", path)
	}
	end := results[0].Summary.Duration.Seconds()

	top := plot.New()
	var names []string
	for _, r := range results {
		names = append(names, r.Scenario.Name)
	}
	top.Title.Text = "ebb simulate — " + strings.Join(names, " vs ")
	top.Y.Label.Text = "metric value"
	top.Add(plotter.NewGrid())
	for i, t := range results[0].Scenario.Triggers {
		var xys plotter.XYs
		for _, p := range t.Series.Points {
			if p.At.Seconds() > end {
				break
			}
			if p.OK {
				xys = append(xys, plotter.XY{X: p.At.Seconds(), Y: p.Value})
			}
		}
		if n := len(xys); n > 0 {
			xys = append(xys, plotter.XY{X: end, Y: xys[n-1].Y})
		}
		name := fmt.Sprintf("trigger %q (target %g)", t.Name, t.Metric.Target)
		if err := chart.AddStepLine(top, xys, name, palette[i%len(palette)], nil, 2); err != nil {
			return err
		}
	}
	top.Legend.Top = true
	top.Y.Min = math.Min(top.Y.Min, 0)
	top.Y.Max = math.Max(top.Y.Max*1.15, 1)
	top.X.Min, top.X.Max = 0, end

	bottom := plot.New()
	bottom.X.Label.Text = "seconds since the start"
	bottom.Y.Label.Text = "replicas"
	bottom.Add(plotter.NewGrid())
	var peak int32
	for i, r := range results {
		xys := plotter.XYs{{X: 0, Y: float64(r.Initial)}}
		for _, c := range r.Changes {
			xys = append(xys, plotter.XY{X: c.At.Seconds(), Y: float64(c.To)})
		}
		xys = append(xys, plotter.XY{X: end, Y: xys[len(xys)-1].Y})
		var dashes []vg.Length
		if i > 0 {
			dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		width := 3.0 - float64(i)
		if err := chart.AddStepLine(bottom, xys, r.Scenario.Name+" replicas", palette[(i+2)%len(palette)], dashes, max(width, 1.5)); err != nil {
			return err
		}
		peak = max(peak, r.Summary.Peak)
	}
	bottom.Legend.Top = true
	bottom.Y.Min, bottom.Y.Max = 0, float64(peak)+1
	bottom.X.Min, bottom.X.Max = 0, end

	return chart.WriteStacked(path, top, bottom)
}
