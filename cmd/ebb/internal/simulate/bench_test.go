// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// daySeries is a day of 1 s steps: bursts of work every half hour that
// drain over a quarter of an hour, idle in between.
func daySeries() *Series {
	s := &Series{Name: "day"}
	for i := 0; i < 24*3600; i++ {
		phase := i % 1800
		v := 0.0
		if phase < 900 {
			v = 400 * math.Sin(math.Pi*float64(phase)/900)
		}
		s.Points = append(s.Points, Point{At: time.Duration(i) * time.Second, Value: math.Round(v), OK: true})
	}
	return s
}

// BenchmarkReplayDay replays a day of 1 s steps: with the ScaledObject
// polling every 30 s (probing every 1 s at zero), and polling every 1 s.
func BenchmarkReplayDay(b *testing.B) {
	series := daySeries()
	for _, file := range []string{"worker.yaml", "tuned.yaml"} {
		so, err := LoadScaledObject(td(file))
		if err != nil {
			b.Fatal(err)
		}
		for _, poll := range []int32{30, 1} {
			so := so.DeepCopy()
			so.Spec.PollingInterval = &poll
			sc, err := NewScenario(file, so, testRegistry(b), map[string]*Series{"": series})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(file+"/poll-"+fmt.Sprint(poll)+"s", func(b *testing.B) {
				var r *Result
				for b.Loop() {
					if r, err = Run(sc, DefaultCluster(), 0); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(r.Polls), "polls/day")
				b.ReportMetric(float64(r.Summary.ScaleEvents), "events/day")
			})
		}
	}
}
