// SPDX-License-Identifier: Apache-2.0

package metricsapi

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestConformance(t *testing.T) {
	const user, password = "conformance", "c0nf-Pa55-w0rd"
	const apiKey, token, urlPassword = "conf-api-key-7f3e", "conf-token-91b2", "url-s3cret-pw"

	a := startAPI(t, readTestdata(t, "stats.json"), "application/json")
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	a.setCheck(func(r *http.Request) bool { return r.Header.Get("Authorization") == wantAuth })
	creds := map[string]string{"username": user, "password": password}
	// valid is the metadata of Valid with kv set over it ("" deletes).
	valid := func(kv ...string) map[string]string {
		return scalertest.With(meta(a.URL()+"/api/v1/stats", "authMode", "basic"), kv...)
	}
	bad := func(name, key string, meta map[string]string, auth map[string]string) scalertest.BadMetadata {
		if auth == nil {
			auth = creds
		}
		return scalertest.BadMetadata{Name: name, Key: key, Trigger: trigger(meta, auth)}
	}
	apiKeyAuth := map[string]string{"apiKey": apiKey}

	typ := NewType()
	scalertest.Run(t, scalertest.Suite{
		Type:        typ,
		Valid:       trigger(valid(), creds),
		Unreachable: trigger(valid("url", "http://"+scalertest.FreeAddr(t)+"/api/v1/stats"), creds),
		Secrets:     []string{password, apiKey, token, urlPassword},
		Open:        typ.OpenConnections,
		WithEgress:  func(e *scalers.Egress) scalers.Type { return NewTypeWithEgress(e) },
		At:          func(addr string) scalers.Trigger { return trigger(valid("url", "http://"+addr+"/api/v1/stats"), creds) },
		Bad: []scalertest.BadMetadata{
			bad("a missing url", "url", valid("url", ""), nil),
			bad("a url that is not a URL", "url", valid("url", "api:3232/stats"), nil),
			bad("a url with another scheme", "url", valid("url", "ftp://api:3232/stats"), nil),
			bad("a url with a password in it", "url", valid("url", "http://admin:"+urlPassword+"@api:3232/stats"), nil),
			bad("a url with a fragment", "url", valid("url", "http://api:3232/stats#tasks"), nil),
			bad("a missing valueLocation", "valueLocation", valid("valueLocation", ""), nil),
			bad("an empty valueLocation", "valueLocation", valid("valueLocation", " "), nil),
			bad("a yaml valueLocation with an empty step", "valueLocation", valid("format", "yaml", "valueLocation", "a..b"), nil),
			bad("a prometheus valueLocation that is not a selector", "valueLocation", valid("format", "prometheus", "valueLocation", "queue depth"), nil),
			bad("an unknown format", "format", valid("format", "csv"), nil),
			bad("a missing targetValue", "targetValue", valid("targetValue", ""), nil),
			bad("a targetValue that is not a number", "targetValue", valid("targetValue", "many"), nil),
			bad("a targetValue of 0", "targetValue", valid("targetValue", "0"), nil),
			bad("an activationTargetValue that is not a number", "activationTargetValue", valid("activationTargetValue", "some"), nil),
			bad("an unsafeSsl that is not a bool", "unsafeSsl", valid("unsafeSsl", "yes please"), nil),
			bad("a timeout that is not a duration", "timeout", valid("timeout", "soon"), nil),
			bad("a timeout of 0", "timeout", valid("timeout", "0"), nil),
			bad("a negative timeout", "timeout", valid("timeout", "-5s"), nil),
			bad("a timeout over an hour", "timeout", valid("timeout", "90m"), nil),
			bad("a timeout over an hour in milliseconds", "timeout", valid("timeout", "99999999999999"), nil),
			bad("an unknown authMode", "authMode", valid("authMode", "digest"), nil),
			bad("authMode basic and bearer at once", "authMode", valid("authMode", "basic,bearer"), map[string]string{"username": user, "token": token}),
			bad("authMode basic without a username", "username", valid(), map[string]string{"password": password}),
			bad("authMode bearer without a token", "token", valid("authMode", "bearer"), map[string]string{}),
			bad("authMode apiKey without an apiKey", "apiKey", valid("authMode", "apiKey"), map[string]string{}),
			bad("authMode tls without cert and key", "cert", valid("authMode", "tls"), map[string]string{}),
			bad("an apiKey method that is neither header nor query", "method", valid("authMode", "apiKey", "method", "body"), apiKeyAuth),
			bad("a keyParamName that is not a header name", "keyParamName", valid("authMode", "apiKey", "keyParamName", "X API Key"), apiKeyAuth),
			bad("a keyParamName of Authorization", "keyParamName", valid("authMode", "apiKey", "keyParamName", "authorization"), apiKeyAuth),
			bad("a query keyParamName the url already sets", "keyParamName", valid("url", "http://api:3232/stats?key=1", "authMode", "apiKey", "method", "query", "keyParamName", "key"), apiKeyAuth),
			bad("an apiKey without authMode apiKey", "authMode", valid(), map[string]string{"username": user, "apiKey": apiKey}),
			bad("a token without authMode bearer", "authMode", valid(), map[string]string{"username": user, "token": token}),
			bad("credentials without authMode", "authMode", valid("authMode", ""), nil),
			bad("a password in the metadata", "password", valid("password", password), nil),
			bad("an apiKey in the metadata", "apiKey", valid("authMode", "apiKey", "apiKey", apiKey), apiKeyAuth),
			bad("a token read from the environment", "token", valid("tokenFromEnv", "API_TOKEN"), nil),
			bad("a ca that is not PEM", "ca", valid(), map[string]string{"username": user, "ca": "not a certificate"}),
			bad("aggregateFromKubeServiceEndpoints, which Ebb does not do", "aggregateFromKubeServiceEndpoints", valid("aggregateFromKubeServiceEndpoints", "true"), nil),
			bad("an unknown aggregationType", "aggregationType", valid("aggregationType", "median"), nil),
		},
	})
}
