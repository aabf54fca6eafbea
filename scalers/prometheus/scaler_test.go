// SPDX-License-Identifier: Apache-2.0

package prometheus

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbscale/ebb/tests/faultproxy"

	"github.com/ebbscale/ebb/scalers"
)

// TestAgainstARealPrometheus runs the scaler against a Prometheus process
// (tests/promharness) that scrapes gauges the test serves and sets.
func TestAgainstARealPrometheus(t *testing.T) {
	src := startSource(t)
	meta := func(kv ...string) map[string]string {
		m := map[string]string{"serverAddress": src.prom.URL(), "query": src.depthQuery(), "threshold": "10"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	t.Run("the value follows the gauge: 37 reads 37 and is active", func(t *testing.T) {
		typ := NewType()
		sc := newScaler(t, typ, trigger(meta(), nil))
		src.setDepth(t, 37)
		r := readUntil(t, sc, "37", func(r scalers.Reading, err error) bool { return err == nil && r.Value == 37 })
		if !r.Active {
			t.Errorf("37 with activationThreshold 0 is not active: %+v", r)
		}
		if m := sc.Metric(); m.Target != 10 || m.ActivationTarget != 0 {
			t.Errorf("Metric() = %+v, want target 10, activation 0", m)
		}
	})

	t.Run("a gauge at 0 reads 0 and is not active", func(t *testing.T) {
		typ := NewType()
		sc := newScaler(t, typ, trigger(meta(), nil))
		src.setDepth(t, 0)
		r := readUntil(t, sc, "0", func(r scalers.Reading, err error) bool { return err == nil && r.Value == 0 })
		if r.Active {
			t.Errorf("0 with activationThreshold 0 is active: %+v", r)
		}
	})

	t.Run("the activation threshold decides activity, not the target", func(t *testing.T) {
		typ := NewType()
		sc := newScaler(t, typ, trigger(meta("activationThreshold", "40"), nil))
		if got := sc.Metric().ActivationTarget; got != 40 {
			t.Fatalf("Metric().ActivationTarget = %v, want 40", got)
		}
		src.setDepth(t, 37)
		r := readUntil(t, sc, "37", func(r scalers.Reading, err error) bool { return err == nil && r.Value == 37 })
		if r.Active {
			t.Errorf("37 is active with activationThreshold 40 (target 10): %+v", r)
		}
		src.setDepth(t, 41)
		r = readUntil(t, sc, "41", func(r scalers.Reading, err error) bool { return err == nil && r.Value == 41 })
		if !r.Active {
			t.Errorf("41 is not active with activationThreshold 40: %+v", r)
		}
	})

	noSeries := fmt.Sprintf(`ebb_test_queue_depth{run=%q, queue="no-such-queue"}`, src.run)

	t.Run("a query with no series is an error by default, not 0", func(t *testing.T) {
		typ := NewType()
		sc := newScaler(t, typ, trigger(meta("query", noSeries), nil))
		r, err := read(sc)
		if err == nil {
			t.Fatalf("Read = %+v with no error", r)
		}
		if r != (scalers.Reading{}) {
			t.Errorf("Read returned %+v along with its error", r)
		}
		for _, want := range []string{"no series", "ignoreNullValues", `trigger 0 "prometheus-0" (prometheus)`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})

	t.Run("a query with no series reads 0 and inactive with ignoreNullValues", func(t *testing.T) {
		typ := NewType()
		sc := newScaler(t, typ, trigger(meta("query", noSeries, "ignoreNullValues", "true"), nil))
		r, err := read(sc)
		if err != nil {
			t.Fatalf("Read = %v", err)
		}
		if r != (scalers.Reading{Value: 0, Active: false}) {
			t.Errorf("Read = %+v, want 0 and inactive", r)
		}
	})

	t.Run("a query returning two series is an error that says to aggregate", func(t *testing.T) {
		typ := NewType()
		q := fmt.Sprintf(`ebb_test_queue_depth_by_queue{run=%q}`, src.run)
		sc := newScaler(t, typ, trigger(meta("query", q), nil))
		_, err := read(sc)
		if err == nil || !strings.Contains(err.Error(), "2 series") || !strings.Contains(err.Error(), "sum(") {
			t.Fatalf("Read = %v, want an error about 2 series suggesting sum()", err)
		}
		// The aggregated query reads their sum.
		sum := newScaler(t, typ, trigger(meta("query", "sum("+q+")"), nil))
		if r, err := read(sum); err != nil || r.Value != 3 {
			t.Errorf("Read(sum) = %+v, %v; want 3", r, err)
		}
	})

	t.Run("a bad PromQL query is an error carrying Prometheus's error type, not its message", func(t *testing.T) {
		typ := NewType()
		sc := newScaler(t, typ, trigger(meta("query", "sum(ebb_test_queue_depth"), nil))
		_, err := read(sc)
		if err == nil || !strings.Contains(err.Error(), "bad_data") || strings.Contains(err.Error(), "parse error") {
			t.Fatalf("Read = %v, want a bad_data error without the server's own message", err)
		}
	})

	t.Run("basic auth credentials are sent and the password never appears in errors", func(t *testing.T) {
		const user, password = "scaler", "pr0m-s3cret-Pa55"
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
		g := startGate(t, src.prom.URL(), want)
		typ := NewType()
		src.setDepth(t, 37)

		good := newScaler(t, typ, trigger(
			map[string]string{"serverAddress": g.URL(), "query": src.depthQuery(), "threshold": "10", "authModes": "basic"},
			map[string]string{"username": user, "password": password}))
		if r, err := read(good); err != nil || r.Value != 37 {
			t.Fatalf("Read through the gate = %+v, %v; want 37", r, err)
		}
		if got := g.lastRequest().Header.Get("Authorization"); got != want {
			t.Errorf("Authorization header = %q, want basic credentials", got)
		}

		wrong := "wr0ng-" + password
		bad := newScaler(t, typ, trigger(
			map[string]string{"serverAddress": g.URL(), "query": src.depthQuery(), "threshold": "10", "authModes": "basic"},
			map[string]string{"username": user, "password": wrong}))
		_, err := read(bad)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("Read with a wrong password = %v, want an HTTP 401 error", err)
		}
		for _, secret := range []string{wrong, password, base64.StdEncoding.EncodeToString([]byte(user + ":" + wrong))} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains a credential", scalers.RedactString(err.Error(), secret))
			}
		}
	})

	t.Run("a bearer token is sent and never appears in errors", func(t *testing.T) {
		const token = "tok-7f3a9c2e-prom"
		g := startGate(t, src.prom.URL(), "Bearer "+token)
		typ := NewType()
		src.setDepth(t, 37)
		sc := newScaler(t, typ, trigger(
			map[string]string{"serverAddress": g.URL(), "query": src.depthQuery(), "threshold": "10"},
			map[string]string{"authModes": "bearer", "bearerToken": token}))
		if r, err := read(sc); err != nil || r.Value != 37 {
			t.Fatalf("Read with the token = %+v, %v; want 37", r, err)
		}

		// A server that answers an error quoting the request's credentials.
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "forbidden for %s", r.Header.Get("Authorization"))
		}))
		defer echo.Close()
		leaky := newScaler(t, typ, trigger(
			map[string]string{"serverAddress": echo.URL, "query": "up", "threshold": "10", "authModes": "bearer"},
			map[string]string{"bearerToken": token}))
		_, err := read(leaky)
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Fatalf("Read = %v, want an HTTP 403 error", err)
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("error %q contains the token", scalers.RedactString(err.Error(), token))
		}
	})

	t.Run("custom headers, namespace and query parameters reach the server", func(t *testing.T) {
		g := startGate(t, src.prom.URL(), "")
		typ := NewType()
		src.setDepth(t, 37)
		sc := newScaler(t, typ, trigger(meta(
			"serverAddress", g.URL(),
			"customHeaders", "X-Scope-OrgID=team-a, X-Client-Id=ebb",
			"namespace", "shop",
			"queryParameters", "dedup=false,partial_response=true",
		), nil))
		if r, err := read(sc); err != nil || r.Value != 37 {
			t.Fatalf("Read = %+v, %v; want 37", r, err)
		}
		req := g.lastRequest()
		if req.URL.Path != "/api/v1/query" || req.Method != http.MethodGet {
			t.Errorf("request = %s %s, want GET /api/v1/query", req.Method, req.URL.Path)
		}
		q := req.URL.Query()
		for k, want := range map[string]string{"query": src.depthQuery(), "namespace": "shop", "dedup": "false", "partial_response": "true"} {
			if got := q.Get(k); got != want {
				t.Errorf("query parameter %s = %q, want %q", k, got, want)
			}
		}
		for k, want := range map[string]string{"X-Scope-OrgID": "team-a", "X-Client-Id": "ebb"} {
			if got := req.Header.Get(k); got != want {
				t.Errorf("header %s = %q, want %q", k, got, want)
			}
		}
		if got := req.Header.Get("Authorization"); got != "" {
			t.Errorf("a trigger without authModes sent Authorization %q", got)
		}
	})

	t.Run("the server going away gives errors, then the scaler recovers when it comes back", func(t *testing.T) {
		proxy := faultproxy.New(t, src.prom.Addr(), nil)
		typ := NewType()
		src.setDepth(t, 37)
		sc := newScaler(t, typ, trigger(meta("serverAddress", "http://"+proxy.Addr()), nil))
		if r, err := read(sc); err != nil || r.Value != 37 {
			t.Fatalf("Read before the outage = %+v, %v; want 37", r, err)
		}

		proxy.Stop()
		for i := 0; i < 3; i++ {
			r, err := read(sc)
			if err == nil {
				t.Fatalf("Read %d during the outage = %+v with no error", i, r)
			}
			if r != (scalers.Reading{}) {
				t.Errorf("Read during the outage returned %+v along with its error", r)
			}
			if !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("error during the outage = %q, want it to say the connection was refused", err)
			}
		}

		proxy.Start(t)
		src.setDepth(t, 12)
		readUntil(t, sc, "12 after the server came back", func(r scalers.Reading, err error) bool { return err == nil && r.Value == 12 })
		if got := typ.OpenConnections(); got != 1 {
			t.Errorf("after recovery %d clients are open, want 1", got)
		}
	})

	t.Run("a slow server is cut off at the trigger's timeout", func(t *testing.T) {
		hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}))
		defer hung.Close()
		typ := NewType()
		sc := newScaler(t, typ, trigger(map[string]string{"serverAddress": hung.URL, "query": "up", "threshold": "1", "timeout": "300ms"}, nil))
		start := time.Now()
		_, err := read(sc)
		took := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), "timeout is 300ms") {
			t.Fatalf("Read = %v, want an error naming the 300ms timeout", err)
		}
		if took > 5*time.Second {
			t.Errorf("Read took %s with a 300ms timeout", took)
		}
	})

	t.Run("identical triggers share one query in flight", func(t *testing.T) {
		var hits atomic.Int32
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"7"]}]}}`)
		}))
		defer slow.Close()
		typ := NewType()
		tr := trigger(map[string]string{"serverAddress": slow.URL, "query": "sum(rate(jobs_total[1m]))", "threshold": "1"}, nil)

		type res struct {
			r   scalers.Reading
			err error
		}
		results := make(chan res, 5)
		readOne := func(sc scalers.Scaler, started *sync.WaitGroup) {
			if started != nil {
				started.Done()
			}
			r, err := read(sc)
			results <- res{r, err}
		}
		go readOne(newScaler(t, typ, tr), nil)
		deadline := time.Now().Add(10 * time.Second)
		for hits.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the first read never reached the server")
			}
			time.Sleep(10 * time.Millisecond)
		}
		var started sync.WaitGroup
		for i := 0; i < 4; i++ {
			started.Add(1)
			go readOne(newScaler(t, typ, tr), &started)
		}
		started.Wait()
		// While the first query is held, the others must join it rather
		// than reach the server.
		window := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(window) {
			if n := hits.Load(); n != 1 {
				t.Fatalf("the server saw %d queries while one was in flight, want 1", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(release)
		for i := 0; i < 5; i++ {
			got := <-results
			if got.err != nil || got.r.Value != 7 {
				t.Errorf("read %d = %+v, %v; want 7", i, got.r, got.err)
			}
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("five identical triggers sent %d queries, want 1", n)
		}
	})

	t.Run("triggers on one server share one HTTP client; other credentials get their own", func(t *testing.T) {
		typ := NewType()
		g := startGate(t, src.prom.URL(), "")
		m := map[string]string{"serverAddress": g.URL(), "query": "vector(1)", "threshold": "1", "authModes": "basic"}
		a := newScaler(t, typ, trigger(m, map[string]string{"username": "u", "password": "p1"}))
		b := newScaler(t, typ, trigger(m, map[string]string{"username": "u", "password": "p1"}))
		c, err := typ.New(trigger(m, map[string]string{"username": "u", "password": "p2"}))
		if err != nil {
			t.Fatal(err)
		}
		if got := typ.OpenConnections(); got != 0 {
			t.Errorf("before any read %d clients are open, want 0 (New does no I/O)", got)
		}
		for _, sc := range []scalers.Scaler{a, b, c} {
			if _, err := read(sc); err != nil {
				t.Fatalf("Read = %v", err)
			}
		}
		if got := typ.OpenConnections(); got != 2 {
			t.Errorf("three triggers with two sets of credentials hold %d clients, want 2", got)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if got := typ.OpenConnections(); got != 1 {
			t.Errorf("after closing the only trigger with other credentials %d clients are open, want 1", got)
		}
	})

	t.Run("a cancelled context ends a read in flight promptly", func(t *testing.T) {
		hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}))
		defer hung.Close()
		typ := NewType()
		sc := newScaler(t, typ, trigger(map[string]string{"serverAddress": hung.URL, "query": "up", "threshold": "1"}, nil))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := sc.Read(ctx)
			done <- err
		}()
		cancel()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a cancelled Read returned no error")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Read did not return within 5s of its context's cancellation")
		}
	})
}
