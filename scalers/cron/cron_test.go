// SPDX-License-Identifier: Apache-2.0

package cron

import (
	"context"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ebbscale/ebb/scalers"
)

func trigger(md map[string]string) scalers.Trigger {
	return scalers.Trigger{Namespace: "ns", ScaledObject: "so", Index: 0, Name: "cron-0", Type: TypeName, Metadata: md}
}

func window(tz, start, end, desired string) map[string]string {
	return map[string]string{"timezone": tz, "start": start, "end": end, "desiredReplicas": desired}
}

func at(t *testing.T, loc string, s string) time.Time {
	t.Helper()
	l, err := time.LoadLocation(loc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04:05", s, l)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// read builds the trigger on a clock set to now and reads it once.
func read(t *testing.T, md map[string]string, now time.Time) scalers.Reading {
	t.Helper()
	s, err := NewTypeWithClock(clocktesting.NewFakeClock(now)).New(trigger(md))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWindows(t *testing.T) {
	workday := window("Europe/Paris", "0 8 * * 1-5", "0 18 * * 1-5", "4")
	tests := []struct {
		sentence string
		md       map[string]string
		zone     string
		now      string
		want     float64
	}{
		{"closed the second before a window starts", workday, "Europe/Paris", "2026-12-07 07:59:59", 0},
		{"open at the instant a window starts", workday, "Europe/Paris", "2026-12-07 08:00:00", 4},
		{"open inside a window, which opened before the trigger existed", workday, "Europe/Paris", "2026-12-07 12:00:00", 4},
		{"open the second before a window ends", workday, "Europe/Paris", "2026-12-07 17:59:59", 4},
		{"closed at the instant a window ends", workday, "Europe/Paris", "2026-12-07 18:00:00", 0},
		{"closed on days the schedule leaves out", workday, "Europe/Paris", "2026-12-06 12:00:00", 0},
		{"read in the trigger's zone, not the clock's", workday, "UTC", "2026-12-07 07:30:00", 4},
		{"a window across midnight is open after midnight", window("UTC", "0 22 * * *", "0 6 * * *", "2"), "UTC", "2026-12-08 03:00:00", 2},
		{"a window across midnight is closed in the day", window("UTC", "0 22 * * *", "0 6 * * *", "2"), "UTC", "2026-12-08 12:00:00", 0},
		{"a start that never comes keeps the window closed", window("UTC", "0 0 30 2 *", "0 1 * * *", "2"), "UTC", "2026-12-08 12:00:00", 0},
		{"seconds, as Ebb's addition", window("UTC", "10 0 12 * * *", "20 0 12 * * *", "3"), "UTC", "2026-12-08 12:00:15", 3},
		{"a descriptor", window("UTC", "@daily", "0 1 * * *", "3"), "UTC", "2026-12-08 00:30:00", 3},
		// America/New_York skips 02:00-03:00 on 8 March 2026.
		{"a start skipped by daylight saving opens nothing that day", window("America/New_York", "30 2 * * *", "30 3 * * *", "2"), "America/New_York", "2026-03-08 03:10:00", 0},
		{"a window across the spring change closes at the local end", window("America/New_York", "0 1 * * *", "0 3 * * *", "2"), "America/New_York", "2026-03-08 03:00:00", 0},
		{"a window across the spring change is open before it", window("America/New_York", "0 1 * * *", "0 3 * * *", "2"), "America/New_York", "2026-03-08 01:59:59", 2},
		// It repeats 01:00-02:00 on 1 November 2026: the window spans both.
		{"a window across the autumn change is open in the repeated hour", window("America/New_York", "0 1 * * *", "0 3 * * *", "2"), "UTC", "2026-11-01 06:30:00", 2},
		{"a window across the autumn change closes at the local end", window("America/New_York", "0 1 * * *", "0 3 * * *", "2"), "UTC", "2026-11-01 08:00:00", 0},
	}
	for _, tt := range tests {
		t.Run(tt.sentence, func(t *testing.T) {
			r := read(t, tt.md, at(t, tt.zone, tt.now))
			if r.Value != tt.want || r.Active != (tt.want > 0) {
				t.Errorf("read %+v, want value %v", r, tt.want)
			}
		})
	}
}

// Several cron triggers on one target are read apart; the HPA takes the
// largest, and any open window keeps the target active.
func TestOverlappingWindowsOnOneTarget(t *testing.T) {
	now := at(t, "UTC", "2026-12-07 11:00:00")
	morning := read(t, window("UTC", "0 8 * * *", "0 12 * * *", "3"), now)
	midday := read(t, window("UTC", "0 10 * * *", "0 14 * * *", "5"), now)
	if morning.Value != 3 || midday.Value != 5 || !morning.Active || !midday.Active {
		t.Errorf("morning %+v, midday %+v; want 3 and 5, both active", morning, midday)
	}
	later := read(t, window("UTC", "0 8 * * *", "0 12 * * *", "3"), now.Add(2*time.Hour))
	if later.Active {
		t.Errorf("the morning window is open at 13:00: %+v", later)
	}
}

// The scale loop is woken at each start and end, not at its next poll.
func TestNotifyWakesAtEveryBoundary(t *testing.T) {
	clk := clocktesting.NewFakeClock(at(t, "UTC", "2026-12-07 07:59:00"))
	s, err := NewTypeWithClock(clk).New(trigger(window("UTC", "0 8 * * *", "0 9 * * *", "2")))
	if err != nil {
		t.Fatal(err)
	}
	woken := make(chan time.Time, 4)
	stop := s.(scalers.Notifier).Notify(func() { woken <- clk.Now() })
	defer stop()
	for _, boundary := range []string{"2026-12-07 08:00:00", "2026-12-07 09:00:00", "2026-12-08 08:00:00"} {
		want := at(t, "UTC", boundary)
		// Wait for the timer, then step to one second before and to the boundary.
		waitTimer(t, clk)
		clk.SetTime(want.Add(-time.Second))
		select {
		case got := <-woken:
			t.Fatalf("woken at %s, a second before %s", got, want)
		default:
		}
		clk.SetTime(want)
		select {
		case got := <-woken:
			if !got.Equal(want) {
				t.Errorf("woken at %s, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("not woken at %s", want)
		}
	}
	stop()
	stop() // harmless twice
}

func waitTimer(t *testing.T, clk *clocktesting.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("Notify set no timer")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBadMetadataNamesTheKey(t *testing.T) {
	tests := []struct {
		sentence string
		md       map[string]string
		key      string
	}{
		{"an unknown time zone", window("Mars/Olympus", "0 8 * * *", "0 9 * * *", "1"), "timezone"},
		{"the operator's local zone", window("Local", "0 8 * * *", "0 9 * * *", "1"), "timezone"},
		{"a start that is not a schedule", window("UTC", "8 o'clock", "0 9 * * *", "1"), "start"},
		{"an end with too many fields", window("UTC", "0 8 * * *", "0 0 9 * * * *", "1"), "end"},
		{"a zone inside the schedule", window("UTC", "CRON_TZ=UTC 0 8 * * *", "0 9 * * *", "1"), "start"},
		{"an interval rather than a time", window("UTC", "@every 1h", "0 9 * * *", "1"), "start"},
		{"the same start and end", window("UTC", "0 8 * * *", "0 8 * * *", "1"), "end"},
		{"no replicas", window("UTC", "0 8 * * *", "0 9 * * *", "0"), "desiredReplicas"},
		{"a missing end", map[string]string{"timezone": "UTC", "start": "0 8 * * *", "desiredReplicas": "1"}, "end"},
		{"a schedule far too long", window("UTC", strings.Repeat("1,", 300)+"1 8 * * *", "0 9 * * *", "1"), "start"},
	}
	for _, tt := range tests {
		t.Run(tt.sentence, func(t *testing.T) {
			err := NewType().Validate(trigger(tt.md))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), `key "`+tt.key+`"`) {
				t.Errorf("error %q does not name key %q", err, tt.key)
			}
		})
	}
}

// The schedules are a tenant's text: no input panics or hangs the parser.
func FuzzSchedule(f *testing.F) {
	for _, s := range []string{"0 8 * * 1-5", "@every 1h", "*/5 * * * * *", "0 0 30 2 *", "CRON_TZ=UTC 0 8 * * *", "1-60/0 * * * *", "@daily"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		sch, err := schedule(spec)
		if err != nil {
			return
		}
		now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
		_ = Open(sch, sch, now)
		_ = NextBoundary(sch, sch, now)
	})
}
