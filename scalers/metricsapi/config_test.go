// SPDX-License-Identifier: Apache-2.0

package metricsapi

import (
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

func TestParse(t *testing.T) {
	const base = "http://api.shop:3232/api/v1/stats"
	tests := map[string]struct {
		trigger scalers.Trigger
		check   func(t *testing.T, s settings)
	}{
		"the format is json unless set": {
			trigger: trigger(meta(base), nil),
			check:   func(t *testing.T, s settings) { want(t, "format", s.format, formatJSON) },
		},
		"the timeout is 10s unless set": {
			trigger: trigger(meta(base), nil),
			check:   func(t *testing.T, s settings) { want(t, "timeout", s.timeout, 10*time.Second) },
		},
		"a timeout that is a bare number is milliseconds": {
			trigger: trigger(meta(base, "timeout", "2500"), nil),
			check:   func(t *testing.T, s settings) { want(t, "timeout", s.timeout, 2500*time.Millisecond) },
		},
		"a timeout may be a Go duration": {
			trigger: trigger(meta(base, "timeout", "2s"), nil),
			check:   func(t *testing.T, s settings) { want(t, "timeout", s.timeout, 2*time.Second) },
		},
		"errors show the URL without its query string": {
			trigger: trigger(meta(base+"?key=abc&view=all"), nil),
			check: func(t *testing.T, s settings) {
				want(t, "shown", s.shown, base)
				want(t, "url", s.url, base+"?key=abc&view=all")
			},
		},
		"apiKey goes in the X-API-KEY header by default": {
			trigger: trigger(meta(base, "authMode", "apiKey"), map[string]string{"apiKey": "k"}),
			check:   func(t *testing.T, s settings) { want(t, "keyParam", s.keyParam, "X-API-KEY") },
		},
		"apiKey with method query goes in api_key, after the URL's own parameters": {
			trigger: trigger(meta(base+"?view=all", "authMode", "apiKey", "method", "query"), map[string]string{"apiKey": "k&v"}),
			check:   func(t *testing.T, s settings) { want(t, "url", s.url, base+"?api_key=k%26v&view=all") },
		},
		"authMode is case-insensitive and may list several modes": {
			trigger: trigger(meta(base, "authMode", "APIKEY, tls"), map[string]string{"apiKey": "k", "cert": mustPKI(t).clientCertPEM, "key": mustPKI(t).clientKeyPEM}),
			check: func(t *testing.T, s settings) {
				if !s.modes[authAPIKey] || !s.modes[authTLS] || len(s.modes) != 2 {
					t.Errorf("modes = %v, want apikey and tls", s.modes)
				}
			},
		},
		"aggregateFromKubeServiceEndpoints false is accepted, as KEDA's default": {
			trigger: trigger(meta(base, "aggregateFromKubeServiceEndpoints", "false", "aggregationType", "average"), nil),
			check:   func(t *testing.T, s settings) {},
		},
		"at admission, a trigger whose TriggerAuthentication is not resolved yet validates": {
			trigger: func() scalers.Trigger {
				tr := trigger(meta(base, "authMode", "basic,apiKey"), nil)
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

func want[V comparable](t *testing.T, what string, got, want V) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
