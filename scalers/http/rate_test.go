// SPDX-License-Identifier: Apache-2.0

package http

import (
	"math"
	"testing"
	"time"
)

func TestHistory(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type scrape struct {
		at     float64
		values map[series]float64
	}
	one := func(v float64) map[series]float64 { return map[series]float64{"route=/api": v} }
	tests := []struct {
		name    string
		window  time.Duration
		scrapes []scrape
		want    float64
		wantOK  bool
	}{
		{"one scrape is not enough for a rate", time.Minute, []scrape{{0, one(100)}}, 0, false},
		{"the first scrape is the baseline, not an increase", time.Minute, []scrape{{0, one(100)}, {2, one(110)}}, 5, true},
		{"a steady counter gives its rate over the window", 10 * time.Second,
			[]scrape{{0, one(0)}, {5, one(50)}, {10, one(100)}, {15, one(150)}, {20, one(200)}}, 10, true},
		{"a counter that went down was reset and counts its new value", time.Minute,
			[]scrape{{0, one(1000)}, {10, one(1100)}, {20, one(30)}}, (100 + 30) / 20.0, true},
		{"a new series counts its whole value",
			time.Minute, []scrape{{0, one(10)}, {10, map[series]float64{"route=/api": 20, "route=/new": 5}}}, 1.5, true},
		{"a series that disappears and comes back counts only its increase", time.Minute,
			[]scrape{
				{0, map[series]float64{"a": 100, "b": 100}},
				{10, map[series]float64{"a": 110}},
				{20, map[series]float64{"a": 120, "b": 105}},
			}, (20 + 5) / 20.0, true},
		{"only the points inside the window count", 10 * time.Second,
			[]scrape{{0, one(0)}, {10, one(1000)}, {15, one(1005)}, {20, one(1010)}}, 1, true},
		{"reads further apart than the window give the rate since the previous read", 10 * time.Second,
			[]scrape{{0, one(0)}, {60, one(120)}}, 2, true},
		{"no traffic is a rate of 0", 10 * time.Second, []scrape{{0, one(7)}, {5, one(7)}}, 0, true},
		{"light traffic is a small rate, not 0", time.Minute,
			[]scrape{{0, one(0)}, {30, one(6)}, {60, one(12)}}, 0.2, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory(tc.window)
			for _, s := range tc.scrapes {
				if err := h.add(at(s.at), s.values); err != nil {
					t.Fatal(err)
				}
			}
			got, _, ok := h.rate()
			if ok != tc.wantOK || math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("rate() = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestHistoryRefusesAScrapeNotAfterTheNewest(t *testing.T) {
	h := newHistory(time.Minute)
	t0 := time.Now()
	if err := h.add(t0, map[series]float64{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if err := h.add(t0, map[series]float64{"a": 2}); err != errTooSoon {
		t.Fatalf("add at the same time = %v, want errTooSoon", err)
	}
}

func TestHistoryStaysBounded(t *testing.T) {
	h := newHistory(time.Hour)
	t0 := time.Now()
	for i := 0; i < 10*maxPoints; i++ {
		_ = h.add(t0.Add(time.Duration(i)*time.Second), map[series]float64{"a": float64(i)})
	}
	if len(h.points) > maxPoints {
		t.Fatalf("history holds %d points, want at most %d", len(h.points), maxPoints)
	}
	if r, _, _ := h.rate(); math.Abs(r-1) > 1e-9 {
		t.Fatalf("rate = %v, want 1", r)
	}
	h2 := newHistory(10 * time.Second)
	for i := 0; i < 1000; i++ {
		_ = h2.add(t0.Add(time.Duration(i)*time.Second), map[series]float64{"a": float64(i)})
	}
	if len(h2.points) > 12 {
		t.Fatalf("a 10 s window at one scrape a second holds %d points, want at most 12", len(h2.points))
	}
}
