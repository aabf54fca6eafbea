// SPDX-License-Identifier: Apache-2.0

package faults_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// A slow source: everything the operator sends PostgreSQL waits 1 s in the
// fault proxy, so a read (the pool's liveness check, then the query) takes
// about 2 s, twice the polling interval, while the HPA reads the metric
// every second too; reads stay well within their 5 s timeout, so no
// connection is dropped for a timeout. Reads of one trigger never pile up: no second connection is
// opened for them, the trigger is read at most once per slow answer, the
// operator's goroutines stay level, and another ScaledObject, on a healthy
// source, scales as usual meanwhile.
func TestSlowSource(t *testing.T) {
	const delay = time.Second
	s := newScenario(t)
	op := s.startOperator()
	s.ready(op)
	baseline := s.goroutines(op)
	p := newPGTable(t)
	q := newRabbitQueue(t)
	s.deployment("slow", 0)
	s.deployment("other", 0)
	s.create(s.scaledObject("slow", "slow", 3, p.trigger(s)))
	s.create(s.scaledObject("other", "other", 3, q.trigger(s)))
	p.insert(30)
	s.waitReplicas("slow", 3, boundScale, "30 rows: the HPA scales to 3")
	w := s.watchReplicas("slow", 3)

	dialed := p.Proxy.Dialed()
	reads := func() float64 {
		n, err := scrape(t.Context(), op.metricsPort, fmt.Sprintf(`ebb_trigger_read_duration_seconds_count{namespace=%q,scaledobject="slow",trigger="postgresql-0",type="postgresql"}`, s.ns))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	p.Proxy.Delay(delay)
	slowFrom, readsBefore := time.Now(), reads()

	q.publish(1)
	d := s.waitReplicas("other", 1, boundBack, "the other ScaledObject scales from 0 to 1 while the slow source is slow")
	figure(t, "slow source: another ScaledObject 0 → 1 meanwhile", d, boundBack)

	// Long enough for a pile-up to show: six polls and six HPA syncs.
	peak := baseline
	s.within(30*time.Second, "six polling intervals of slowness", func(ctx context.Context) (bool, string) {
		if n, err := scrape(ctx, op.metricsPort, "go_goroutines"); err == nil {
			peak = max(peak, n)
		}
		return time.Since(slowFrom) >= 6*time.Second, "slow"
	})
	elapsed, got := time.Since(slowFrom), reads()-readsBefore
	// One read at a time, each one slow answer long: at most elapsed/delay
	// of them, plus the one in flight when the window opened and one that
	// may end just as it closes.
	if limit := elapsed.Seconds()/delay.Seconds() + 2; got > limit {
		t.Errorf("%v reads of the slow trigger in %s, at most %.0f without a pile-up", got, elapsed.Round(time.Second), limit)
	}
	if n := p.Proxy.Dialed(); n != dialed {
		t.Errorf("%d connections opened to the slow source during the slowness: reads piled up on new connections", n-dialed)
	}
	t.Logf("FIGURE slow source: %v reads in %.1f s at %s each; %d new connections; operator goroutines peak %v (before the scenario %v)",
		got, elapsed.Seconds(), delay, p.Proxy.Dialed()-dialed, peak, baseline)
	if peak > baseline+40 {
		t.Errorf("the operator's goroutines rose from %v to %v while a source was slow", baseline, peak)
	}
	w.check()

	p.Proxy.Delay(0)
	p.insert(20)
	s.waitReplicas("slow", 5, boundScale, "fast again: the HPA follows new rows to 5")
	w.hold(0)
	p.drain()
	q.purge()
	s.waitReplicas("slow", 0, boundScale, "drained: back to zero")
	s.noLeaks(op, baseline, p.Proxy, q.Proxy)
}

// hostileProm is a loopback server that answers the Prometheus HTTP API
// with hostile replies, by path (the trigger's serverAddress picks one).
// Every reply carries marker, which must never reach a status.
type hostileProm struct {
	srv   *http.Server
	addr  string
	conns atomic.Int64
}

const marker = "EBB-HOSTILE-MARKER"

var hostileReplies = map[string]func(w http.ResponseWriter, r *http.Request){
	// 64 MiB of samples, streamed.
	"oversized": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[`))
		chunk := []byte(strings.Repeat(`{"metric":{"m":"`+marker+`"},"value":[1,"1"]},`, 1000))
		for written := 0; written < 64<<20; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	},
	// Not JSON at all after a promising start, with terminal escapes.
	"malformed": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"` + marker + "\x1b[31m\x00\xff"))
	},
	// 100,000 levels of nesting.
	"nested": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}}`))
	},
	// A well-formed API error whose text is the server's choosing.
	"error-short": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":"%s: visit http://evil.example/ \u001b[2J"}`, marker)
	},
	// An error whose text is a megabyte of the server's choosing.
	"error-text": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":"%s"}`, strings.Repeat(marker+" \\u001b[2J ", 1<<20/len(marker)))
	},
	// A reply that trickles a byte every 100 ms and never ends.
	"trickle": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		f, _ := w.(http.Flusher)
		for {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	},
}

func newHostileProm(t *testing.T) *hostileProm {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostileProm{addr: ln.Addr().String()}
	mux := http.NewServeMux()
	for name, reply := range hostileReplies {
		mux.HandleFunc("/"+name+"/api/v1/query", reply)
	}
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ConnState: func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			h.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			h.conns.Add(-1)
		}
	}}
	go func() { _ = h.srv.Serve(ln) }()
	t.Cleanup(func() { _ = h.srv.Close() })
	return h
}

// A malicious source: servers answering the Prometheus HTTP API with an
// oversized reply, malformed JSON, absurd nesting, a megabyte of error text
// with terminal escapes, and a reply that never ends. Each trigger fails
// within its bounds: the ScaledObject says so (Active=Unknown, the
// trigger's lastError and failures) without a byte of the reply in its
// status; the operator lives; and another ScaledObject keeps scaling.
func TestMaliciousSource(t *testing.T) {
	s := newScenario(t)
	op := s.startOperator()
	s.ready(op)
	baseline := s.goroutines(op)
	h := newHostileProm(t)
	q := newRabbitQueue(t)
	s.deployment("healthy", 0)
	s.create(s.scaledObject("healthy", "healthy", 3, q.trigger(s)))
	var names []string
	for name := range hostileReplies {
		names = append(names, name)
		s.deployment(name, 0)
		s.create(s.scaledObject(name, name, 3, v1alpha1.Trigger{
			Type: "prometheus",
			Metadata: map[string]string{
				"serverAddress": "http://" + h.addr + "/" + name,
				"query":         "sum(work)",
				"threshold":     "10",
				"timeout":       "2s",
			},
		}))
	}
	var leaked []string
	for _, name := range names {
		s.waitStatus(name, 60*time.Second, name+": the trigger fails, and the ScaledObject says so", func(so *v1alpha1.ScaledObject) (bool, string) {
			ok, why := conditionIs(so, v1alpha1.ConditionActive, metav1.ConditionUnknown)
			if len(so.Status.Triggers) == 0 {
				return false, "no trigger status"
			}
			ts := so.Status.Triggers[0]
			return ok && ts.ConsecutiveFailures >= 3 && ts.LastError != "", fmt.Sprintf("%s; %d failures, lastError %.200q", why, ts.ConsecutiveFailures, ts.LastError)
		})
		so, err := s.get(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		lastErr := so.Status.Triggers[0].LastError
		t.Logf("%s: lastError %q", name, lastErr)
		if strings.ContainsAny(lastErr, "\x1b\x00") || !utf8.ValidString(lastErr) {
			t.Errorf("%s: raw control bytes or invalid UTF-8 reached the status: %.300q", name, lastErr)
		}
		if strings.Contains(lastErr, marker) {
			leaked = append(leaked, name)
		}
		if n, err := s.replicas(t.Context(), name); err != nil || n != 0 {
			t.Errorf("%s: %d replicas (%v), want 0: a failing trigger must not move the target", name, n, err)
		}
	}
	// DESIGN.md: "no foreign bytes reach a status or an Event". Until
	// 93f3fcc the prometheus scaler quoted the server's error text and the
	// start of a non-API reply, which reached lastError, the Ready condition
	// and the ScalerError Event.
	if len(leaked) > 0 {
		t.Errorf("the replies %v put the server's own text into lastError", leaked)
	}
	q.publish(1)
	d := s.waitReplicas("healthy", 1, boundBack, "a healthy ScaledObject scales 0 → 1 meanwhile")
	figure(t, "malicious sources: a healthy ScaledObject 0 → 1 meanwhile", d, boundBack)
	if gone, err := op.Exited(); gone {
		t.Fatalf("the operator exited: %v", err)
	}
	if rss, err := scrape(t.Context(), op.metricsPort, "process_resident_memory_bytes"); err == nil {
		t.Logf("FIGURE malicious sources: operator RSS %.0f MiB after the hostile replies", rss/(1<<20))
	}
	q.purge()
	s.waitReplicas("healthy", 0, boundScale, "drained: back to zero")
	s.noLeaks(op, baseline, q.Proxy)
	s.within(30*time.Second, "no connection to the hostile server stays open", func(context.Context) (bool, string) {
		n := h.conns.Load()
		return n == 0, fmt.Sprintf("%d open", n)
	})
}
