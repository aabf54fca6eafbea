// SPDX-License-Identifier: Apache-2.0

package external

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/external/externalscaler"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// pushTypes returns the two Types with a short stream back-off.
func pushTypes() (ext, push *Type) {
	ext, push = NewTypes()
	push.retryMin = 20 * time.Millisecond
	return ext, push
}

// wakes counts the wakes of a Notify.
type wakes struct{ n atomic.Int64 }

func (w *wakes) wake() { w.n.Add(1) }

func (w *wakes) atLeast(n int64) func() (bool, string) {
	return func() (bool, string) {
		got := w.n.Load()
		return got >= n, fmt.Sprintf("%d wakes", got)
	}
}

func notify(t *testing.T, sc scalers.Scaler, w *wakes) {
	t.Helper()
	n, ok := sc.(scalers.Notifier)
	if !ok {
		t.Fatalf("%T is not a Notifier", sc)
	}
	stop := n.Notify(w.wake)
	t.Cleanup(stop)
}

func TestAPushTriggerWakesWhenTheServerSaysActive(t *testing.T) {
	src := &source{}
	srv := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{StreamEvery: time.Hour}, nil)
	_, push := pushTypes()
	sc := scalertest.NewScaler(t, push, trigger("external-push", map[string]string{"scalerAddress": srv.addr}, nil))
	var w wakes
	notify(t, sc, &w)
	eventually(t, "the stream delivers the first (inactive) answer", func() (bool, string) {
		opened, received, failure, _ := push.streamState(sc.(*pushScaler).scaler)
		return received >= 1, fmt.Sprintf("opened %d, received %d, failure %v", opened, received, failure)
	})
	if n := w.n.Load(); n != 0 {
		t.Fatalf("%d wakes while the server says inactive", n)
	}
	src.set(3, true)
	srv.srv.Wake() // an event arrived at the server
	eventually(t, "a wake after the server says active", w.atLeast(1))
	if r, err := read(t, sc); err != nil || !r.Active || r.Value != 3 {
		t.Fatalf("Read = %+v, %v; want 3, active", r, err)
	}
}

// The stream's server dies: reads fail while it is down (an error, not a
// zero), the stream is opened again with a back-off, and once the server
// is back on its address the trigger reads and wakes as before.
func TestAPushTriggerRecoversWhenItsServerComesBack(t *testing.T) {
	src := &source{}
	src.set(2, true)
	srv := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{StreamEvery: 10 * time.Millisecond}, nil)
	_, push := pushTypes()
	sc := scalertest.NewScaler(t, push, trigger("external-push", map[string]string{"scalerAddress": srv.addr}, nil))
	s := sc.(*pushScaler).scaler
	var w wakes
	notify(t, sc, &w)
	eventually(t, "a wake from the first server", w.atLeast(1))

	srv.srv.Stop()
	eventually(t, "the stream fails with the server gone", func() (bool, string) {
		_, _, failure, _ := push.streamState(s)
		return failure != nil, fmt.Sprintf("failure %v", failure)
	})
	if r, err := read(t, sc); err == nil {
		t.Fatalf("Read with the server down = %+v, want an error", r)
	}
	openedBefore, _, _, _ := push.streamState(s)
	before := w.n.Load()

	serve(t, srv.addr, src.read, externalscaler.Options{StreamEvery: 10 * time.Millisecond}, nil)
	eventually(t, "a new stream and a wake from the server that came back", func() (bool, string) {
		opened, _, failure, _ := push.streamState(s)
		return opened > openedBefore && w.n.Load() > before, fmt.Sprintf("opened %d (was %d), wakes %d (was %d), failure %v", opened, openedBefore, w.n.Load(), before, failure)
	})
	eventually(t, "reads succeed again", func() (bool, string) {
		r, err := read(t, sc)
		return err == nil && r.Value == 2, fmt.Sprintf("%+v, %v", r, err)
	})
}

// A server written for KEDA's pull triggers only (no StreamIsActive): the
// stream fails and is retried with a back-off, and the trigger reads and
// activates through its polls meanwhile.
func TestAPushTriggerOnAServerWithoutStreamsStillReads(t *testing.T) {
	addr := rawServer(t, &odd{})
	_, push := pushTypes()
	sc := scalertest.NewScaler(t, push, trigger("external-push", map[string]string{"scalerAddress": addr}, nil))
	notify(t, sc, &wakes{})
	eventually(t, "the stream fails as unimplemented", func() (bool, string) {
		_, _, failure, _ := push.streamState(sc.(*pushScaler).scaler)
		return failure != nil && strings.Contains(failure.Error(), "Unimplemented"), fmt.Sprintf("failure %v", failure)
	})
	if r, err := read(t, sc); err != nil || !r.Active {
		t.Fatalf("Read = %+v, %v; want active", r, err)
	}
}

// Push triggers with the same server and reference share one stream; it
// stops, and its connection closes, when the last one stops and closes.
func TestPushTriggersShareOneStream(t *testing.T) {
	src := &source{}
	srv := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{StreamEvery: 10 * time.Millisecond}, nil)
	_, push := pushTypes()
	md := map[string]string{"scalerAddress": srv.addr}
	var stops []func()
	var scs []scalers.Scaler
	var ws []*wakes
	for range 5 {
		sc, err := push.New(trigger("external-push", md, nil))
		if err != nil {
			t.Fatal(err)
		}
		w := &wakes{}
		scs, ws = append(scs, sc), append(ws, w)
		stops = append(stops, sc.(scalers.Notifier).Notify(w.wake))
	}
	other := trigger("external-push", md, nil)
	other.ScaledObject = "another"
	osc := scalertest.NewScaler(t, push, other)
	ostop := osc.(scalers.Notifier).Notify(func() {})
	if n := push.streams(); n != 2 {
		t.Errorf("%d streams for two references, want 2", n)
	}
	src.set(1, true)
	for i, w := range ws {
		eventually(t, fmt.Sprintf("trigger %d woken", i), w.atLeast(1))
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("the server accepted %d connections, want 1", n)
	}
	ostop()
	_ = osc.Close()
	for i := range scs {
		stops[i]()
		stops[i]() // harmless
		_ = scs[i].Close()
	}
	if n := push.streams(); n != 0 {
		t.Errorf("%d streams after every trigger stopped", n)
	}
	if n := push.OpenConnections(); n != 0 {
		t.Errorf("%d connections open after every trigger closed", n)
	}
}

// A panic in the stream's goroutine (here, in a wake) fails that stream,
// which is opened again, and the next read of the trigger reports it; the
// process goes on.
func TestAPanicInTheStreamIsRecovered(t *testing.T) {
	src := &source{}
	src.set(1, true)
	srv := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{StreamEvery: 10 * time.Millisecond}, nil)
	_, push := pushTypes()
	sc := scalertest.NewScaler(t, push, trigger("external-push", map[string]string{"scalerAddress": srv.addr}, nil))
	var calls atomic.Int64
	stop := sc.(scalers.Notifier).Notify(func() {
		calls.Add(1)
		panic("a wake that panics")
	})
	t.Cleanup(stop)
	eventually(t, "a read reporting the panic, the stream opened again and waking again", func() (bool, string) {
		_, err := read(t, sc)
		opened, _, _, _ := push.streamState(sc.(*pushScaler).scaler)
		return errors.Is(err, scalers.ErrPanicked) && opened >= 2 && calls.Load() >= 2, fmt.Sprintf("read error %v, opened %d, wakes %d", err, opened, calls.Load())
	})
}
