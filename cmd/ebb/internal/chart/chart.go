// SPDX-License-Identifier: Apache-2.0

// Package chart holds what the CLI's PNG charts share (ebb demo --plot,
// ebb simulate --plot): step lines, axis ticks in whole seconds and whole
// replicas, and two plots stacked in one image.
package chart

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// AddStepLine adds a line that holds each value until the next point (a
// count or a reading holds between samples) and its legend entry. An empty
// series adds nothing.
func AddStepLine(p *plot.Plot, xys plotter.XYs, name string, c color.Color, dashes []vg.Length, width float64) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("plot %s: %w", name, err)
	}
	l.Color = c
	l.Width = vg.Points(width)
	l.Dashes = dashes
	l.StepStyle = plotter.PostStep
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// WriteStacked writes top above bottom, their axes aligned, as a 10×7 inch
// PNG at path.
func WriteStacked(path string, top, bottom *plot.Plot) error {
	const w, h = 10 * vg.Inch, 7 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12), PadY: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

// IntegerTicks marks whole numbers only, for replica counts.
type IntegerTicks struct{}

// Ticks implements plot.Ticker.
func (IntegerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1
	if hi-lo > 12 {
		step = int((hi-lo)/8 + 0.5)
	}
	var ticks []plot.Tick
	for v := int(lo); float64(v) <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: float64(v), Label: fmt.Sprint(v)})
	}
	return ticks
}

// SecondTicks marks a time axis in seconds every 1, 2, 5, 10, 15, 30, 60,
// ... seconds, about ten labels across.
type SecondTicks struct{}

// Ticks implements plot.Ticker.
func (SecondTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1.0
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600} {
		step = s
		if (hi-lo)/s <= 12 {
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		if v == 0 {
			v = 0 // not -0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}
