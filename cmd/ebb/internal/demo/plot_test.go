// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A run as the demo records it: idle, a burst of 1,000 at 0, 1 replica at
// 1 s, 5 at 2 s, 8 at 17 s, drained at 20 s, 1 at 21 s, 0 at 30 s.
func recordedRun() []Sample {
	var out []Sample
	lag := 0.0
	for ms := -3000; ms <= 31000; ms += 250 {
		t := float64(ms) / 1000
		var replicas int32
		switch {
		case t < 1:
			replicas = 0
		case t < 2:
			replicas = 1
		case t < 17:
			replicas = 5
		case t < 19:
			replicas = 8
		case t < 21:
			replicas = 5
		case t < 30:
			replicas = 1
		}
		if ms == 0 {
			lag = 1000
		}
		lag = math.Max(0, lag-float64(replicas)*10*0.25)
		s := Sample{At: time.Duration(ms) * time.Millisecond, Lag: int64(lag), Metric: math.NaN(), MetricTotal: math.NaN(), Desired: replicas, Replicas: replicas}
		if replicas > 0 {
			s.MetricTotal = math.Min(lag, 160)
			s.Metric = s.MetricTotal / float64(replicas)
		}
		out = append(out, s)
	}
	return out
}

func TestWritePlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.png")
	if err := WritePlot(path, recordedRun(), PlotTitle{Source: "kafka", Unit: Unit{"record", "records"}, Records: 1000, Rate: 10, Target: 20, MaxReplicas: 8}); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	if b := img.Bounds(); b.Dx() != 1100 || b.Dy() != 770 {
		t.Errorf("chart is %dx%d, want 1100x770 (10×7 in at 110 dpi)", b.Dx(), b.Dy())
	}
	// Each series is drawn in its colour.
	for name, c := range map[string]color.RGBA{"lag": lagColor, "metric": metricColor, "replicas": replicasColor, "desired": desiredColor} {
		if n := countColor(img, c); n < 50 {
			t.Errorf("%s: %d pixels of its colour, want a drawn line", name, n)
		}
	}
	if n := countColor(img, readyColor); n > 0 {
		t.Errorf("%d pixels of the pods Ready's colour in a run without pods", n)
	}
}

func TestWritePlotShowsPodsReadyWithCluster(t *testing.T) {
	samples := recordedRun()
	for i := range samples {
		samples[i].Ready = max(samples[i].Replicas-1, 0) // a pod behind
	}
	path := filepath.Join(t.TempDir(), "demo.png")
	if err := WritePlot(path, samples, PlotTitle{Source: "kafka", Unit: Unit{"record", "records"}, Records: 1000, Rate: 10, Target: 20, MaxReplicas: 8, Pods: true}); err != nil {
		t.Fatal(err)
	}
	if n := countColor(decodePNG(t, path), readyColor); n < 50 {
		t.Errorf("%d pixels of the pods Ready's colour, want a drawn line", n)
	}
}

func TestWritePlotWithoutSamples(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.png")
	if err := WritePlot(path, nil, PlotTitle{}); err == nil {
		t.Error("a chart of no samples was written")
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a file was left for a chart of no samples")
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	return img
}

func countColor(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(bl>>8) == c.B {
				n++
			}
		}
	}
	return n
}
