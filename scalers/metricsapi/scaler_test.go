// SPDX-License-Identifier: Apache-2.0

package metricsapi

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestReadsEachFormatFromARealServer(t *testing.T) {
	tests := map[string]struct {
		format, contentType, loc string
		want                     float64
	}{
		"json":       {formatJSON, "application/json", "components.queues.0.depth", 42},
		"yaml":       {formatYAML, "application/yaml", "components.queues.1.depth", 7},
		"xml":        {formatXML, "application/xml", "stats.components.worker.tasks", 12},
		"prometheus": {formatPrometheus, "text/plain; version=0.0.4", `queue_depth{queue="orders"}`, 42},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := startAPI(t, readTestdata(t, files[tc.format]), tc.contentType)
			sc := scalertest.NewScaler(t, NewType(), trigger(meta(a.URL()+"/stats", "format", tc.format, "valueLocation", tc.loc, "activationTargetValue", "10"), nil))
			r, err := scalertest.Read(sc)
			if err != nil {
				t.Fatalf("Read = %v", err)
			}
			if r != (scalers.Reading{Value: tc.want, Active: tc.want > 10}) {
				t.Errorf("Read = %+v, want %v", r, tc.want)
			}
			if got := a.lastRequest().Header.Get("Accept"); got != accepts[tc.format] {
				t.Errorf("Accept = %q, want %q", got, accepts[tc.format])
			}
		})
	}
}

func TestTheValueFollowsTheSource(t *testing.T) {
	a := startAPI(t, []byte(`{"components":{"worker":{"tasks":3}}}`), "application/json")
	typ := NewType()
	typ.reuse = 0
	sc := scalertest.NewScaler(t, typ, trigger(meta(a.URL(), "activationTargetValue", "4"), nil))
	if r, err := scalertest.Read(sc); err != nil || r != (scalers.Reading{Value: 3}) {
		t.Fatalf("Read = %+v, %v; want 3, inactive", r, err)
	}
	a.set([]byte(`{"components":{"worker":{"tasks":"4.5"}}}`))
	if r, err := scalertest.Read(sc); err != nil || r != (scalers.Reading{Value: 4.5, Active: true}) {
		t.Fatalf("Read = %+v, %v; want 4.5, active", r, err)
	}
}

func TestMetric(t *testing.T) {
	tr := trigger(meta("http://api.shop:3232/api/v1/stats", "activationTargetValue", "2.5"), nil)
	tr.Index = 2
	tr.MetricType = v1alpha1.MetricTypeValue
	sc := scalertest.NewScaler(t, NewType(), tr)
	want := scalers.MetricSpec{Name: "s2-metrics-api-components-worker-tasks", Target: 5, ActivationTarget: 2.5, Type: v1alpha1.MetricTypeValue}
	if m := sc.Metric(); m != want {
		t.Errorf("Metric() = %+v, want %+v", m, want)
	}
}

func TestEachAuthModeSendsItsCredentials(t *testing.T) {
	const key, user, password, token = "k3y-v4lue", "reader", "pa55-w0rd", "t0ken-abc"
	body := readTestdata(t, "stats.json")
	tests := map[string]struct {
		meta  []string
		auth  map[string]string
		check func(r *http.Request) bool
	}{
		"apiKey in the default header X-API-KEY": {
			meta: []string{"authMode", "apiKey"}, auth: map[string]string{"apiKey": key},
			check: func(r *http.Request) bool { return r.Header.Get("X-API-KEY") == key },
		},
		"apiKey in a header named by keyParamName": {
			meta: []string{"authMode", "apiKey", "keyParamName", "X-Stats-Key"}, auth: map[string]string{"apiKey": key},
			check: func(r *http.Request) bool {
				return r.Header.Get("X-Stats-Key") == key && r.Header.Get("X-API-KEY") == ""
			},
		},
		"apiKey in the default query parameter api_key": {
			meta: []string{"authMode", "apiKey", "method", "query"}, auth: map[string]string{"apiKey": key},
			check: func(r *http.Request) bool {
				return r.URL.Query().Get("api_key") == key && r.URL.Query().Get("view") == "all"
			},
		},
		"apiKey in a query parameter named by keyParamName": {
			meta: []string{"authMode", "apiKey", "method", "query", "keyParamName", "QUERY_KEY"}, auth: map[string]string{"apiKey": key},
			check: func(r *http.Request) bool { return r.URL.Query().Get("QUERY_KEY") == key },
		},
		"authMode and method from the TriggerAuthentication": {
			auth:  map[string]string{"authMode": "apiKey", "method": "query", "apiKey": key},
			check: func(r *http.Request) bool { return r.URL.Query().Get("api_key") == key },
		},
		"basic": {
			meta: []string{"authMode", "basic"}, auth: map[string]string{"username": user, "password": password},
			check: func(r *http.Request) bool {
				return r.Header.Get("Authorization") == "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password))
			},
		},
		"basic without a password": {
			meta: []string{"authMode", "basic"}, auth: map[string]string{"username": user},
			check: func(r *http.Request) bool { u, p, ok := r.BasicAuth(); return ok && u == user && p == "" },
		},
		"bearer": {
			meta: []string{"authMode", "bearer"}, auth: map[string]string{"token": token},
			check: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+token },
		},
		"apiKey and bearer at once": {
			meta: []string{"authMode", "apiKey,bearer"}, auth: map[string]string{"apiKey": key, "token": token},
			check: func(r *http.Request) bool {
				return r.Header.Get("Authorization") == "Bearer "+token && r.Header.Get("X-API-KEY") == key
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := startAPI(t, body, "application/json")
			a.setCheck(tc.check)
			sc := scalertest.NewScaler(t, NewType(), trigger(meta(a.URL()+"/stats?view=all", tc.meta...), tc.auth))
			if r, err := scalertest.Read(sc); err != nil || r.Value != 12 {
				t.Fatalf("Read = %+v, %v; want 12", r, err)
			}
			// Without the credentials the server refuses, and the error
			// says so without them.
			wrong := map[string]string{}
			for k, v := range tc.auth {
				wrong[k] = v
				switch k {
				case "apiKey", "password", "token", "username":
					wrong[k] = "wrong-" + v
				}
			}
			sc = scalertest.NewScaler(t, NewType(), trigger(meta(a.URL()+"/stats?view=all", tc.meta...), wrong))
			_, err := scalertest.Read(sc)
			if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
				t.Fatalf("Read with wrong credentials = %v, want HTTP 401", err)
			}
			for _, s := range []string{key, password, token, "view=all"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains %q", err, s)
				}
			}
		})
	}
}

func TestTLS(t *testing.T) {
	p := mustPKI(t)
	body := readTestdata(t, "stats.json")
	clientCert := map[string]string{"cert": p.clientCertPEM, "key": p.clientKeyPEM, "ca": p.caPEM}

	t.Run("authMode tls presents the client certificate the server requires", func(t *testing.T) {
		a := startTLSAPI(t, p, body, true)
		sc := scalertest.NewScaler(t, NewType(), trigger(meta(a.URL(), "authMode", "tls"), clientCert))
		if r, err := scalertest.Read(sc); err != nil || r.Value != 12 {
			t.Fatalf("Read = %+v, %v; want 12", r, err)
		}
		if got := a.lastRequest().TLS.PeerCertificates[0].Subject.CommonName; got != "ebb" {
			t.Errorf("client certificate CN = %q, want ebb", got)
		}
	})

	t.Run("tls with apiKey sends both", func(t *testing.T) {
		a := startTLSAPI(t, p, body, true)
		a.setCheck(func(r *http.Request) bool { return r.Header.Get("X-API-KEY") == "k" })
		auth := map[string]string{"apiKey": "k"}
		for k, v := range clientCert {
			auth[k] = v
		}
		sc := scalertest.NewScaler(t, NewType(), trigger(meta(a.URL(), "authMode", "apiKey,tls"), auth))
		if r, err := scalertest.Read(sc); err != nil || r.Value != 12 {
			t.Fatalf("Read = %+v, %v; want 12", r, err)
		}
	})

	t.Run("without the client certificate the server refuses the handshake", func(t *testing.T) {
		a := startTLSAPI(t, p, body, true)
		sc := scalertest.NewScaler(t, NewType(), trigger(meta(a.URL()), map[string]string{"ca": p.caPEM}))
		if _, err := scalertest.Read(sc); err == nil || !strings.Contains(err.Error(), "no answer") {
			t.Fatalf("Read = %v, want a transport error", err)
		}
	})

	t.Run("a ca alone verifies the server", func(t *testing.T) {
		a := startTLSAPI(t, p, body, false)
		sc := scalertest.NewScaler(t, NewType(), trigger(meta(a.URL()), map[string]string{"ca": p.caPEM}))
		if r, err := scalertest.Read(sc); err != nil || r.Value != 12 {
			t.Fatalf("Read = %+v, %v; want 12", r, err)
		}
	})

	t.Run("without the ca the server's certificate is unknown, and the error names none of it", func(t *testing.T) {
		a := startTLSAPI(t, p, body, false)
		sc := scalertest.NewScaler(t, NewType(), trigger(meta(a.URL()), nil))
		_, err := scalertest.Read(sc)
		if err == nil || !strings.Contains(err.Error(), "unknown authority") || strings.Contains(err.Error(), "ebb metrics-api test CA") {
			t.Fatalf("Read = %v, want an unknown-authority error that does not name the CA", err)
		}
	})

	t.Run("unsafeSsl skips the verification", func(t *testing.T) {
		a := startTLSAPI(t, p, body, false)
		sc := scalertest.NewScaler(t, NewType(), trigger(meta(a.URL(), "unsafeSsl", "true"), nil))
		if r, err := scalertest.Read(sc); err != nil || r.Value != 12 {
			t.Fatalf("Read = %+v, %v; want 12", r, err)
		}
	})

	t.Run("a client key that does not match the certificate is refused at the build, without quoting it", func(t *testing.T) {
		other, _, err := issue(&x509.Certificate{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalPKCS8PrivateKey(other)
		auth := map[string]string{"cert": p.clientCertPEM, "key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}
		err = NewType().Validate(trigger(meta("https://127.0.0.1:1", "authMode", "tls"), auth))
		if err == nil || !strings.Contains(err.Error(), `"cert"`) && !strings.Contains(err.Error(), `"key"`) {
			t.Fatalf("Validate = %v, want an error naming cert or key", err)
		}
		if strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("error %q quotes the PEM", err)
		}
	})
}

func TestTriggersOnOneURLShareOneRequest(t *testing.T) {
	a := startAPI(t, readTestdata(t, "stats.json"), "application/json")
	typ := NewType()
	typ.reuse = time.Hour // every read of this test is within the window
	locs := []string{"components.worker.tasks", "components.queues.0.depth", "components.queues.1.depth", "components.queues.#", "components.worker.memory"}
	want := []float64{12, 42, 7, 2, 10 << 20}
	auth := map[string]string{"token": "shared-token"}
	scs := make([]scalers.Scaler, len(locs))
	for i, loc := range locs {
		scs[i] = scalertest.NewScaler(t, typ, trigger(meta(a.URL()+"/stats", "valueLocation", loc, "authMode", "bearer"), auth))
	}
	var wg sync.WaitGroup
	got := make([]float64, len(scs))
	errs := make([]error, len(scs))
	for i, sc := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := scalertest.Read(sc)
			got[i], errs[i] = r.Value, err
		}()
	}
	wg.Wait()
	for i := range scs {
		if errs[i] != nil || got[i] != want[i] {
			t.Errorf("trigger %d (%s) read %v, %v; want %v", i, locs[i], got[i], errs[i], want[i])
		}
	}
	if n := a.hits.Load(); n != 1 {
		t.Errorf("%d triggers on one URL made %d requests, want 1", len(scs), n)
	}
	if n := typ.OpenConnections(); n != 1 {
		t.Errorf("OpenConnections = %d, want 1", n)
	}

	// Other credentials, another format or another URL are other requests.
	others := []scalers.Trigger{
		trigger(meta(a.URL()+"/stats", "authMode", "bearer"), map[string]string{"token": "other-token"}),
		trigger(meta(a.URL()+"/stats", "authMode", "bearer", "format", "yaml"), auth),
		trigger(meta(a.URL()+"/stats?v=2", "authMode", "bearer"), auth),
	}
	for i, tr := range others {
		if _, err := scalertest.Read(scalertest.NewScaler(t, typ, tr)); err != nil && !strings.Contains(err.Error(), "YAML") {
			t.Fatalf("other trigger %d: Read = %v", i, err)
		}
		if n := a.hits.Load(); n != int64(2+i) {
			t.Fatalf("after other trigger %d the server saw %d requests, want %d", i, n, 2+i)
		}
	}
}

func TestAnAnswerIsReusedOnlyWithinTheWindow(t *testing.T) {
	a := startAPI(t, readTestdata(t, "stats.json"), "application/json")
	typ := NewType()
	now := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	typ.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	sc := scalertest.NewScaler(t, typ, trigger(meta(a.URL()), nil))
	for i, step := range []struct {
		advance time.Duration
		hits    int64
	}{{0, 1}, {reuseWithin / 2, 1}, {reuseWithin, 2}, {0, 2}} {
		advance(step.advance)
		if _, err := scalertest.Read(sc); err != nil {
			t.Fatal(err)
		}
		if n := a.hits.Load(); n != step.hits {
			t.Fatalf("read %d: the server saw %d requests, want %d", i, n, step.hits)
		}
	}
}

func TestAFailedReadIsNotReused(t *testing.T) {
	a := startAPI(t, readTestdata(t, "stats.json"), "application/json")
	a.setCheck(func(*http.Request) bool { return false })
	typ := NewType()
	sc := scalertest.NewScaler(t, typ, trigger(meta(a.URL()), nil))
	if _, err := scalertest.Read(sc); err == nil {
		t.Fatal("Read succeeded against a server that refuses")
	}
	a.setCheck(nil)
	if r, err := scalertest.Read(sc); err != nil || r.Value != 12 {
		t.Fatalf("Read = %+v, %v; want 12 once the server answers", r, err)
	}
}

func TestTheTimeoutBoundsARead(t *testing.T) {
	for _, timeout := range []string{"300", "300ms"} {
		t.Run(timeout, func(t *testing.T) {
			a := startAPI(t, readTestdata(t, "stats.json"), "application/json")
			a.hold = make(chan struct{})
			t.Cleanup(func() { close(a.hold) })
			sc := scalertest.NewScaler(t, NewType(), trigger(meta(a.URL(), "timeout", timeout), nil))
			start := time.Now()
			_, err := scalertest.Read(sc)
			if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timeout is 300ms") {
				t.Fatalf("Read = %v, want a deadline error naming the timeout", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("the read took %s with a 300ms timeout", took)
			}
		})
	}
}

func TestARedirectOnTheSameHostIsFollowed(t *testing.T) {
	a := startAPI(t, readTestdata(t, "stats.json"), "application/json")
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/new", http.StatusFound) })
	mux.Handle("/new", http.HandlerFunc(a.serve))
	a.srv.Config.Handler = mux
	sc := scalertest.NewScaler(t, NewType(), trigger(meta(a.URL()+"/old"), nil))
	if r, err := scalertest.Read(sc); err != nil || r.Value != 12 {
		t.Fatalf("Read = %+v, %v; want 12", r, err)
	}
}

func TestAnHTTPErrorSaysItsStatusOnly(t *testing.T) {
	a := startAPI(t, []byte("zqx-secret-body"), "text/plain")
	a.setCheck(func(*http.Request) bool { return false })
	sc := scalertest.NewScaler(t, NewType(), trigger(meta(a.URL()+"/stats?token=abc"), nil))
	_, err := scalertest.Read(sc)
	want := fmt.Sprintf(`trigger 0 "metrics-api-0" (metrics-api): metrics API at %s/stats: answered HTTP 401 Unauthorized, expected 2xx`, a.URL())
	if err == nil || err.Error() != want {
		t.Fatalf("Read = %v\nwant %s", err, want)
	}
}

func TestAClosedScalerReadsNothingEvenAnAnswerOthersShare(t *testing.T) {
	a := startAPI(t, readTestdata(t, "stats.json"), "application/json")
	typ := NewType()
	typ.reuse = time.Hour
	other := scalertest.NewScaler(t, typ, trigger(meta(a.URL()), nil))
	if _, err := scalertest.Read(other); err != nil {
		t.Fatal(err)
	}
	sc, err := typ.New(trigger(meta(a.URL()), nil))
	if err != nil {
		t.Fatal(err)
	}
	_ = sc.Close()
	if r, err := scalertest.Read(sc); !errors.Is(err, scalers.ErrLeaseReleased) {
		t.Fatalf("Read after Close = %+v, %v; want ErrLeaseReleased", r, err)
	}
}
