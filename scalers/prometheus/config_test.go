// SPDX-License-Identifier: Apache-2.0

package prometheus

import (
	"testing"
	"time"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

func baseMeta(kv ...string) map[string]string {
	m := map[string]string{"serverAddress": "http://prometheus.monitoring:9090", "query": "sum(queue_depth)", "threshold": "10"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestParse(t *testing.T) {
	tests := map[string]struct {
		trigger scalers.Trigger
		check   func(t *testing.T, s settings)
	}{
		"ignoreNullValues is false unless set, unlike KEDA": {
			trigger: trigger(baseMeta(), nil),
			check: func(t *testing.T, s settings) {
				if s.cfg.IgnoreNullValues {
					t.Error("IgnoreNullValues defaults to true")
				}
			},
		},
		"the timeout is 10 s unless set": {
			trigger: trigger(baseMeta(), nil),
			check:   wantTimeout(10 * time.Second),
		},
		"a timeout that is a bare number is milliseconds, as in KEDA": {
			trigger: trigger(baseMeta("timeout", "1000"), nil),
			check:   wantTimeout(time.Second),
		},
		"a timeout may be a Go duration": {
			trigger: trigger(baseMeta("timeout", "2.5s"), nil),
			check:   wantTimeout(2500 * time.Millisecond),
		},
		"the query path is appended to serverAddress, keeping its own path": {
			trigger: trigger(baseMeta("serverAddress", "http://vmselect:8481/select/0/prometheus/"), nil),
			check: func(t *testing.T, s settings) {
				if want := "http://vmselect:8481/select/0/prometheus/api/v1/query"; s.endpoint != want {
					t.Errorf("endpoint = %q, want %q", s.endpoint, want)
				}
			},
		},
		"namespace is sent as the namespace query parameter": {
			trigger: trigger(baseMeta("namespace", "shop", "queryParameters", "dedup=false"), nil),
			check: func(t *testing.T, s settings) {
				if got := s.params.Encode(); got != "dedup=false&namespace=shop" {
					t.Errorf("parameters = %q, want dedup=false&namespace=shop", got)
				}
			},
		},
		"custom headers are sent as given": {
			trigger: trigger(baseMeta("customHeaders", "X-Scope-OrgID=team-a,X-Client-Id=ebb"), nil),
			check: func(t *testing.T, s settings) {
				if s.header.Get("X-Scope-OrgID") != "team-a" || s.header.Get("X-Client-Id") != "ebb" {
					t.Errorf("headers = %v", s.header)
				}
			},
		},
		"authModes may come from the TriggerAuthentication": {
			trigger: trigger(baseMeta(), map[string]string{"authModes": "bearer", "bearerToken": "t"}),
			check: func(t *testing.T, s settings) {
				if s.authMode != authBearer {
					t.Errorf("authMode = %q, want bearer", s.authMode)
				}
			},
		},
		"basic auth may go without a password": {
			trigger: trigger(baseMeta("authModes", "basic"), map[string]string{"username": "reader"}),
			check: func(t *testing.T, s settings) {
				if s.authMode != authBasic || s.cfg.Username != "reader" {
					t.Errorf("authMode, username = %q, %q", s.authMode, s.cfg.Username)
				}
			},
		},
		"at admission, a trigger whose TriggerAuthentication is not resolved yet validates": {
			trigger: func() scalers.Trigger {
				tr := trigger(baseMeta("authModes", "basic"), nil)
				tr.AuthPending = true
				return tr
			}(),
			check: func(t *testing.T, s settings) {},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := parse(tc.trigger)
			if err != nil {
				t.Fatalf("parse = %v", err)
			}
			tc.check(t, s)
		})
	}
}

func wantTimeout(d time.Duration) func(t *testing.T, s settings) {
	return func(t *testing.T, s settings) {
		t.Helper()
		if s.timeout != d {
			t.Errorf("timeout = %s, want %s", s.timeout, d)
		}
	}
}

func TestMetric(t *testing.T) {
	tr := trigger(baseMeta("activationThreshold", "2.5", "query", `sum(rate(http_requests_total{app="shop"}[2m]))`), nil)
	tr.Index = 3
	tr.MetricType = v1alpha1.MetricTypeValue
	sc, err := NewType().New(tr)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	m := sc.Metric()
	want := scalers.MetricSpec{
		Name:             "s3-prometheus-sum-rate-http-requests-total-app-shop-2m",
		Target:           10,
		ActivationTarget: 2.5,
		Type:             v1alpha1.MetricTypeValue,
	}
	if m != want {
		t.Errorf("Metric() = %+v, want %+v", m, want)
	}
}

func TestCoalesceKey(t *testing.T) {
	key := func(meta, auth map[string]string) string {
		t.Helper()
		s, err := parse(trigger(meta, auth))
		if err != nil {
			t.Fatal(err)
		}
		ck := clientKey{server: s.server, authMode: s.authMode, username: s.cfg.Username, password: s.cfg.Password, bearerToken: s.cfg.BearerToken, unsafeSSL: s.cfg.UnsafeSSL}
		return coalesceKey(ck, s)
	}
	creds := map[string]string{"username": "u", "password": "p"}
	base := key(baseMeta("authModes", "basic"), creds)

	if got := key(baseMeta("authModes", "basic", "threshold", "99", "activationThreshold", "5", "ignoreNullValues", "true"), creds); got != base {
		t.Error("triggers that differ only in thresholds and ignoreNullValues do not share their query")
	}
	differ := map[string]string{
		"another query":            key(baseMeta("authModes", "basic", "query", "max(queue_depth)"), creds),
		"another server":           key(baseMeta("authModes", "basic", "serverAddress", "http://other:9090"), creds),
		"another password":         key(baseMeta("authModes", "basic"), map[string]string{"username": "u", "password": "q"}),
		"another user":             key(baseMeta("authModes", "basic"), map[string]string{"username": "v", "password": "p"}),
		"another namespace":        key(baseMeta("authModes", "basic", "namespace", "shop"), creds),
		"another header":           key(baseMeta("authModes", "basic", "customHeaders", "X-Scope-OrgID=b"), creds),
		"other query parameters":   key(baseMeta("authModes", "basic", "queryParameters", "dedup=false"), creds),
		"TLS verification skipped": key(baseMeta("authModes", "basic", "unsafeSsl", "true"), creds),
	}
	for name, k := range differ {
		t.Run("a trigger with "+name+" does not share the query", func(t *testing.T) {
			if k == base {
				t.Error("same coalescing key")
			}
		})
	}
}
