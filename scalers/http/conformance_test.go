// SPDX-License-Identifier: Apache-2.0

package http

import (
	nethttp "net/http"
	"testing"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestConformance(t *testing.T) {
	const token = "conf-bearer-77a1"
	a := startApp(t)
	resp, err := nethttp.Get(a.srv.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	valid := func(kv ...string) map[string]string {
		m := map[string]string{"counterURL": a.metricsURL(), "counterName": "http_requests_total", "labels": "route=/api", "targetRequestRate": "10"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	bad := func(name, key string, meta map[string]string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Key: key, Trigger: trigger(meta)}
	}
	typ := NewType()
	scalertest.Run(t, scalertest.Suite{
		Type:        typ,
		Valid:       trigger(valid()),
		Unreachable: trigger(valid("counterURL", "http://"+deadAddress(t)+"/metrics")),
		Secrets:     []string{token},
		Open:        typ.OpenConnections,
		WithEgress:  func(e *scalers.Egress) scalers.Type { return NewTypeWithEgress(e) },
		At:          func(addr string) scalers.Trigger { return trigger(valid("counterURL", "http://"+addr+"/metrics")) },
		Bad: []scalertest.BadMetadata{
			bad("a missing counterURL", "counterURL", valid("counterURL", "<unset>")),
			bad("a counterURL that is not a URL", "counterURL", valid("counterURL", "app:8080/metrics")),
			bad("a counterURL with another scheme", "counterURL", valid("counterURL", "ftp://app/metrics")),
			bad("a counterURL with credentials", "counterURL", valid("counterURL", "http://u:"+token+"@app/metrics")),
			bad("a missing counterName", "counterName", valid("counterName", "<unset>")),
			bad("a counterName that is not a metric name", "counterName", valid("counterName", "http requests")),
			bad("labels that are not pairs", "labels", valid("labels", "route")),
			bad("labels with a bad label name", "labels", valid("labels", "1route=/api")),
			bad("neither targetRequestRate nor targetConcurrency", "targetRequestRate", valid("targetRequestRate", "<unset>")),
			bad("both targetRequestRate and targetConcurrency", "targetRequestRate", valid("targetConcurrency", "3")),
			bad("a targetRequestRate that is not a number", "targetRequestRate", valid("targetRequestRate", "lots")),
			bad("a negative targetRequestRate", "targetRequestRate", valid("targetRequestRate", "-1")),
			bad("a negative targetConcurrency", "targetConcurrency", valid("targetRequestRate", "<unset>", "targetConcurrency", "-2")),
			bad("a negative activationRequestRate", "activationRequestRate", valid("activationRequestRate", "-1")),
			bad("activationConcurrency with targetRequestRate", "activationConcurrency", valid("activationConcurrency", "1")),
			bad("activationRequestRate with targetConcurrency", "activationRequestRate", valid("targetRequestRate", "<unset>", "targetConcurrency", "2", "activationRequestRate", "1")),
			bad("a window that is not a duration", "window", valid("window", "a while")),
			bad("a window under 2 s", "window", valid("window", "500ms")),
			bad("a window over an hour", "window", valid("window", "2h")),
			bad("a timeout of 0", "timeout", valid("timeout", "0")),
			bad("an ignoreNullValues that is not a bool", "ignoreNullValues", valid("ignoreNullValues", "maybe")),
			bad("a bearerToken in the metadata", "bearerToken", valid("bearerToken", token)),
		},
	})
}
