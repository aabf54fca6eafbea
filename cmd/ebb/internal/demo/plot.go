// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/ebbscale/ebb/cmd/ebb/internal/chart"
)

// PlotTitle says what ran, for the chart's title.
type PlotTitle struct {
	Source      string
	Unit        Unit
	Records     int
	Rate        float64
	Target      int
	MaxReplicas int32
	// Pods says the worker ran as pods (--cluster): the chart shows the
	// pods Ready too.
	Pods bool
}

var (
	lagColor      = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	metricColor   = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	replicasColor = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	desiredColor  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	readyColor    = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
)

// WritePlot writes a PNG chart of samples to path: the lag and the value
// the HPA saw on top, the Deployment's replicas and the HPA's desired count
// below (and the pods Ready, with t.Pods), on one time axis (seconds since
// the first record).
func WritePlot(path string, samples []Sample, t PlotTitle) error {
	if len(samples) == 0 {
		return fmt.Errorf("plot %s: no samples", path)
	}
	var lag, metric, replicas, desired, ready plotter.XYs
	for _, s := range samples {
		x := s.At.Seconds()
		if s.Lag >= 0 {
			lag = append(lag, plotter.XY{X: x, Y: float64(s.Lag)})
		}
		if known(s.MetricTotal) {
			metric = append(metric, plotter.XY{X: x, Y: s.MetricTotal})
		}
		if s.Replicas >= 0 {
			replicas = append(replicas, plotter.XY{X: x, Y: float64(s.Replicas)})
		}
		if s.Desired >= 0 {
			desired = append(desired, plotter.XY{X: x, Y: float64(s.Desired)})
		}
		if t.Pods && s.Ready >= 0 {
			ready = append(ready, plotter.XY{X: x, Y: float64(s.Ready)})
		}
	}
	xmin, xmax := samples[0].At.Seconds(), samples[len(samples)-1].At.Seconds()

	top := plot.New()
	top.Title.Text = fmt.Sprintf("ebb demo — %s: %s, consumed at %g/s per replica, target %d per replica, max %d replicas",
		t.Source, t.Unit.Of(t.Records), t.Rate, t.Target, t.MaxReplicas)
	top.Y.Label.Text = t.Unit.Many
	top.Y.Min = 0
	top.Add(plotter.NewGrid())
	// Steps: each sample holds until the next, so the burst is a jump at 0.
	if err := chart.AddStepLine(top, lag, "lag (work waiting)", lagColor, nil, 2); err != nil {
		return err
	}
	if err := chart.AddStepLine(top, metric, "value the HPA read (per replica × replicas)", metricColor, []vg.Length{vg.Points(4), vg.Points(3)}, 2); err != nil {
		return err
	}
	top.Legend.Top = true
	// Room above the peak for the legend.
	top.Y.Max = math.Max(top.Y.Max*1.15, 1)
	top.X.Min, top.X.Max = xmin, xmax
	top.X.Tick.Marker = chart.SecondTicks{}

	bottom := plot.New()
	bottom.X.Label.Text = "seconds since the first " + t.Unit.One
	bottom.Y.Label.Text = "replicas"
	bottom.Y.Min, bottom.Y.Max = 0, float64(t.MaxReplicas)+1
	bottom.Y.Tick.Marker = chart.IntegerTicks{}
	bottom.Add(plotter.NewGrid())
	// Replicas wide and below, the desired count dashed on top: both show
	// where they agree.
	if err := chart.AddStepLine(bottom, replicas, "Deployment replicas", replicasColor, nil, 3); err != nil {
		return err
	}
	if err := chart.AddStepLine(bottom, desired, "HPA desired", desiredColor, []vg.Length{vg.Points(4), vg.Points(4)}, 1.5); err != nil {
		return err
	}
	if err := chart.AddStepLine(bottom, ready, "pods Ready (kubelet)", readyColor, []vg.Length{vg.Points(1), vg.Points(2)}, 2); err != nil {
		return err
	}
	bottom.Legend.Top = true
	bottom.X.Min, bottom.X.Max = xmin, xmax
	bottom.X.Tick.Marker = chart.SecondTicks{}

	return chart.WriteStacked(path, top, bottom)
}
