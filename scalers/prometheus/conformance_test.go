// SPDX-License-Identifier: Apache-2.0

package prometheus

import (
	"encoding/base64"
	"testing"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
	"github.com/ebbscale/ebb/tests/promharness"
)

func TestConformance(t *testing.T) {
	const user, password = "conformance", "c0nf-Pa55-w0rd"
	const token = "conf-token-91b2"
	const urlPassword = "url-s3cret-pw"

	prom := promharness.Start(t)
	// Valid reads the real Prometheus through a gate that checks basic auth.
	gate := startGate(t, prom.URL(), "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	creds := map[string]string{"username": user, "password": password}
	valid := func(kv ...string) map[string]string {
		m := map[string]string{"serverAddress": gate.URL(), "query": "sum(vector(3))", "threshold": "5", "authModes": "basic"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	bad := func(name, key string, meta map[string]string, auth map[string]string) scalertest.BadMetadata {
		if auth == nil {
			auth = creds
		}
		return scalertest.BadMetadata{Name: name, Key: key, Trigger: trigger(meta, auth)}
	}

	typ := NewType()
	scalertest.Run(t, scalertest.Suite{
		Type:        typ,
		Valid:       trigger(valid(), creds),
		Unreachable: trigger(valid("serverAddress", "http://"+deadAddress(t)), creds),
		Secrets:     []string{password, token, urlPassword},
		Open:        typ.OpenConnections,
		WithEgress:  func(e *scalers.Egress) scalers.Type { return NewTypeWithEgress(e) },
		At:          func(addr string) scalers.Trigger { return trigger(valid("serverAddress", "http://"+addr), creds) },
		Bad: []scalertest.BadMetadata{
			bad("a missing serverAddress", "serverAddress", valid("serverAddress", "<unset>"), nil),
			bad("a serverAddress that is not a URL", "serverAddress", valid("serverAddress", "prometheus:9090"), nil),
			bad("a serverAddress with another scheme", "serverAddress", valid("serverAddress", "ftp://prometheus:9090"), nil),
			bad("a serverAddress with a password in it", "serverAddress", valid("serverAddress", "http://admin:"+urlPassword+"@prometheus:9090"), nil),
			bad("a serverAddress with a query string", "serverAddress", valid("serverAddress", "http://prometheus:9090/?dedup=true"), nil),
			bad("a missing query", "query", valid("query", "<unset>"), nil),
			bad("an empty query", "query", valid("query", "  "), nil),
			bad("a missing threshold", "threshold", valid("threshold", "<unset>"), nil),
			bad("a threshold that is not a number", "threshold", valid("threshold", "many"), nil),
			bad("a threshold of 0", "threshold", valid("threshold", "0"), nil),
			bad("a negative threshold", "threshold", valid("threshold", "-3"), nil),
			bad("an activationThreshold that is not a number", "activationThreshold", valid("activationThreshold", "some"), nil),
			bad("an ignoreNullValues that is not a bool", "ignoreNullValues", valid("ignoreNullValues", "maybe"), nil),
			bad("an unsafeSsl that is not a bool", "unsafeSsl", valid("unsafeSsl", "yes please"), nil),
			bad("a timeout that is not a duration", "timeout", valid("timeout", "soon"), nil),
			bad("a timeout of 0", "timeout", valid("timeout", "0"), nil),
			bad("a negative timeout", "timeout", valid("timeout", "-5s"), nil),
			bad("a timeout over an hour", "timeout", valid("timeout", "90m"), nil),
			bad("a timeout over an hour in milliseconds", "timeout", valid("timeout", "99999999999999"), nil),
			bad("customHeaders that are not key=value pairs", "customHeaders", valid("customHeaders", "X-Scope-OrgID"), nil),
			bad("customHeaders with an invalid header name", "customHeaders", valid("customHeaders", "X Org=1"), nil),
			bad("customHeaders setting Authorization", "customHeaders", valid("customHeaders", "Authorization=Bearer "+token), nil),
			bad("queryParameters that are not key=value pairs", "queryParameters", valid("queryParameters", "dedup"), nil),
			bad("queryParameters overriding the query", "queryParameters", valid("queryParameters", "query=up"), nil),
			bad("queryParameters setting namespace", "queryParameters", valid("queryParameters", "namespace=shop"), nil),
			bad("an unknown authModes", "authModes", valid("authModes", "digest"), nil),
			bad("authModes tls, which Ebb does not support yet", "authModes", valid("authModes", "tls"), nil),
			bad("authModes bearer and basic at once", "authModes", valid("authModes", "bearer,basic"), map[string]string{"username": user, "password": password, "bearerToken": token}),
			bad("authModes bearer without a bearerToken", "bearerToken", valid("authModes", "bearer"), map[string]string{}),
			bad("authModes basic without a username", "username", valid(), map[string]string{"password": password}),
			bad("a password in the metadata", "password", valid("password", password), nil),
			bad("a bearerToken in the metadata", "bearerToken", valid("authModes", "bearer", "bearerToken", token), map[string]string{"bearerToken": token}),
			bad("credentials without authModes", "authModes", valid("authModes", "<unset>"), nil),
			bad("a password read from the environment", "password", valid("passwordFromEnv", "PROM_PASSWORD"), nil),
		},
	})
}
