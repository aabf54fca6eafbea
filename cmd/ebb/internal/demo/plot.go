package demo

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

// PlotTitle says what ran, for the chart's title.
type PlotTitle struct {
	Source      string
	Unit        Unit
	Records     int
	Rate        float64
	Target      int
	MaxReplicas int32
}

var (
	lagColor      = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	metricColor   = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	replicasColor = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	desiredColor  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
)

// WritePlot writes a PNG chart of samples to path: the lag and the value
// the HPA saw on top, the Deployment's replicas and the HPA's desired count
// below, on one time axis (seconds since the first record).
func WritePlot(path string, samples []Sample, t PlotTitle) error {
	if len(samples) == 0 {
		return fmt.Errorf("plot %s: no samples", path)
	}
	var lag, metric, replicas, desired plotter.XYs
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
	}
	xmin, xmax := samples[0].At.Seconds(), samples[len(samples)-1].At.Seconds()

	top := plot.New()
	top.Title.Text = fmt.Sprintf("ebb demo — %s: %s, consumed at %g/s per replica, target %d per replica, max %d replicas",
		t.Source, t.Unit.Of(t.Records), t.Rate, t.Target, t.MaxReplicas)
	top.Y.Label.Text = t.Unit.Many
	top.Y.Min = 0
	top.Add(plotter.NewGrid())
	// Steps: each sample holds until the next, so the burst is a jump at 0.
	if err := addLine(top, lag, "lag (work waiting)", lagColor, nil, plotter.PostStep, 2); err != nil {
		return err
	}
	if err := addLine(top, metric, "value the HPA read (per replica × replicas)", metricColor, []vg.Length{vg.Points(4), vg.Points(3)}, plotter.PostStep, 2); err != nil {
		return err
	}
	top.Legend.Top = true
	// Room above the peak for the legend.
	top.Y.Max = math.Max(top.Y.Max*1.15, 1)
	top.X.Min, top.X.Max = xmin, xmax
	top.X.Tick.Marker = secondTicks{}

	bottom := plot.New()
	bottom.X.Label.Text = "seconds since the first " + t.Unit.One
	bottom.Y.Label.Text = "replicas"
	bottom.Y.Min, bottom.Y.Max = 0, float64(t.MaxReplicas)+1
	bottom.Y.Tick.Marker = integerTicks{}
	bottom.Add(plotter.NewGrid())
	// Replicas wide and below, the desired count dashed on top: both show
	// where they agree.
	if err := addLine(bottom, replicas, "Deployment replicas", replicasColor, nil, plotter.PostStep, 3); err != nil {
		return err
	}
	if err := addLine(bottom, desired, "HPA desired", desiredColor, []vg.Length{vg.Points(4), vg.Points(4)}, plotter.PostStep, 1.5); err != nil {
		return err
	}
	bottom.Legend.Top = true
	bottom.X.Min, bottom.X.Max = xmin, xmax
	bottom.X.Tick.Marker = secondTicks{}

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

func addLine(p *plot.Plot, xys plotter.XYs, name string, c color.Color, dashes []vg.Length, step plotter.StepKind, width float64) error {
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
	l.StepStyle = step
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// integerTicks marks whole numbers only, for replica counts.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
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

// secondTicks marks a time axis in seconds every 1, 2, 5, 10, 15, 30, 60,
// ... seconds, about ten labels across.
type secondTicks struct{}

func (secondTicks) Ticks(lo, hi float64) []plot.Tick {
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
