// SPDX-License-Identifier: Apache-2.0

package triggers

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/ebbscale/ebb/scalers"
)

// endpointKeys are, per trigger type, the keys that say where the scaler
// connects and so where a ClusterTriggerAuthentication's credentials go.
var endpointKeys = map[string][]string{
	"apache-kafka":        {"bootstrapServers", "oauthTokenEndpointUri"},
	"cpu":                 nil,
	"cron":                nil,
	"external":            {"scalerAddress"},
	"external-push":       {"scalerAddress"},
	"http":                {"counterURL", "interceptorURL"},
	"kafka":               {"bootstrapServers", "oauthTokenEndpointUri"},
	"kubernetes-workload": nil,
	"memory":              nil,
	"metrics-api":         {"url"},
	"mysql":               {"connectionString", "host"},
	"nats-jetstream":      {"natsServerMonitoringEndpoint", "natsServerURL"},
	"postgresql":          {"connection", "host"},
	"prometheus":          {"serverAddress"},
	"rabbitmq":            {"host"},
	"redis":               {"address", "host"},
	"redis-streams":       {"address", "host"},

	"redis-cluster":          {"addresses", "hosts", "ports"},
	"redis-cluster-streams":  {"addresses", "hosts", "ports"},
	"redis-sentinel":         {"addresses", "hosts", "ports"},
	"redis-sentinel-streams": {"addresses", "hosts", "ports"},
}

// Every trigger type tags exactly its endpoint keys `endpoint`, so that a
// new key that names a server cannot slip past the pin unnoticed.
func TestEveryTypeTagsItsEndpointKeys(t *testing.T) {
	reg, err := Registry(scalers.DefaultEgress())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reg.Names(), slices.Sorted(maps.Keys(endpointKeys)); !slices.Equal(got, want) {
		t.Fatalf("types = %v, the table knows %v: add the new type's endpoint keys", got, want)
	}
	for _, name := range reg.Names() {
		typ, _ := reg.Lookup(name)
		keys, err := scalers.Keys(typ.Config())
		if err != nil {
			t.Fatal(err)
		}
		var tagged []string
		for _, k := range keys {
			if k.Endpoint {
				tagged = append(tagged, k.Key)
			}
		}
		if !slices.Equal(tagged, endpointKeys[name]) {
			t.Errorf("%s: endpoint keys %v, want %v", name, tagged, endpointKeys[name])
		}
	}
}

// Each trigger type's own config parse (the one admission and the build
// run) refuses a pinned trigger's foreign endpoint on the key that names it,
// and accepts an allowed one.
func TestEachTypeRefusesAForeignEndpointOfAPinnedTrigger(t *testing.T) {
	reg, err := Registry(scalers.DefaultEgress())
	if err != nil {
		t.Fatal(err)
	}
	pin := &scalers.EndpointPin{Owner: `ClusterTriggerAuthentication "shared"`, Trusted: map[string]bool{"password": true, "bearerToken": true, "username": true},
		Allowed: []string{"https://prom.shared.example/tenants/a", "app.shared.example:8080", "interceptor.shared.example", "*.kafka.shared.example:9092",
			"db.shared.example", "rabbit.shared.example", "redis.shared.example:6379", "nats.shared.example", "scaler.shared.example:6000"}}
	password := map[string]string{"password": "hunter2"}
	for _, tc := range []struct {
		typ, key string
		allowed  map[string]string // metadata whose endpoint the pin allows
		foreign  string            // the value of key that it does not
		auth     map[string]string // what the CTA's Secret gives
	}{
		{"prometheus", "serverAddress", map[string]string{"serverAddress": "https://prom.shared.example/tenants/a", "query": "up", "threshold": "1"}, "https://prom.shared.example/tenants/b", nil},
		{"metrics-api", "url", map[string]string{"url": "https://prom.shared.example/tenants/a", "valueLocation": "a.b", "targetValue": "1", "authMode": "basic"}, "https://prom.shared.example/tenants/b", map[string]string{"username": "u", "password": "hunter2"}},
		{"http", "counterURL", map[string]string{"counterURL": "http://app.shared.example:8080/metrics", "counterName": "requests_total", "targetRequestRate": "10"}, "http://169.254.169.254/metrics", map[string]string{"bearerToken": "hunter2"}},
		{"http", "interceptorURL", map[string]string{"interceptorURL": "http://interceptor.shared.example:9090", "route": "shop", "targetRequestRate": "10"}, "http://evil.example:9090", map[string]string{"bearerToken": "hunter2"}},
		{"kafka", "bootstrapServers", map[string]string{"bootstrapServers": "b-1.kafka.shared.example:9092,b-2.kafka.shared.example:9092", "consumerGroup": "g", "topic": "t"}, "b-1.kafka.shared.example:9092,evil.example:9092", password},
		{"kafka", "oauthTokenEndpointUri", map[string]string{"bootstrapServers": "b-1.kafka.shared.example:9092", "consumerGroup": "g", "topic": "t", "sasl": "oauthbearer", "oauthTokenEndpointUri": "https://prom.shared.example/tenants/a"}, "https://evil.example/token", map[string]string{"clientId": "c", "clientSecret": "hunter2"}},
		{"postgresql", "host", map[string]string{"host": "db.shared.example", "userName": "u", "dbName": "d", "query": "select 1", "targetQueryValue": "1"}, "evil.example", password},
		{"postgresql", "connection", map[string]string{"connection": "postgres://u@db.shared.example:5432/d", "query": "select 1", "targetQueryValue": "1"}, "postgres://u@db.shared.example,evil.example/d", password},
		{"mysql", "host", map[string]string{"host": "db.shared.example", "username": "u", "dbName": "d", "query": "select 1", "queryValue": "1"}, "evil.example", password},
		{"mysql", "connectionString", map[string]string{"connectionString": "u@tcp(db.shared.example:3306)/d", "query": "select 1", "queryValue": "1"}, "u@tcp(evil.example:3306)/d", password},
		{"rabbitmq", "host", map[string]string{"host": "amqp://rabbit.shared.example:5672/", "queueName": "q", "value": "5"}, "amqp://evil.example:5672/", password},
		{"redis", "address", map[string]string{"address": "redis.shared.example:6379", "listName": "l"}, "evil.example:6379", password},
		{"redis", "host", map[string]string{"host": "redis.shared.example", "listName": "l"}, "evil.example", password},
		{"redis-streams", "address", map[string]string{"address": "redis.shared.example:6379", "stream": "s"}, "10.0.0.1:6379", password},
		{"redis-cluster", "addresses", map[string]string{"addresses": "redis.shared.example:6379", "listName": "l"}, "redis.shared.example:6379,evil.example:6379", password},
		{"redis-sentinel-streams", "hosts", map[string]string{"hosts": "redis.shared.example", "ports": "6379", "sentinelMaster": "m", "stream": "s"}, "evil.example", password},
		{"external", "scalerAddress", map[string]string{"scalerAddress": "scaler.shared.example:6000", "queue": "q"}, "evil.example:6000", nil},
		{"external-push", "scalerAddress", map[string]string{"scalerAddress": "scaler.shared.example:6000"}, "scaler.shared.example:6001", nil},
		{"nats-jetstream", "natsServerMonitoringEndpoint", map[string]string{"natsServerMonitoringEndpoint": "nats.shared.example:8222", "stream": "s", "consumer": "c"}, "evil.example:8222", nil},
		{"nats-jetstream", "natsServerURL", map[string]string{"natsServerURL": "nats://nats.shared.example:4222", "stream": "s", "consumer": "c"}, "nats://nats.shared.example:4222,nats://evil.example:4222", map[string]string{"username": "u", "password": "hunter2"}},
	} {
		t.Run(tc.typ+"/"+tc.key, func(t *testing.T) {
			for _, pending := range []bool{true, false} { // at admission, at the build
				tr := scalers.Trigger{Index: 0, Name: "t", Type: tc.typ, Metadata: tc.allowed, AuthParams: tc.auth, Pin: pin, AuthPending: pending}
				if pending {
					tr.AuthParams = nil
				}
				if err := reg.Validate(tr); err != nil {
					t.Fatalf("pending=%v: the allowed endpoint is refused: %v", pending, err)
				}
				md := maps.Clone(tc.allowed)
				md[tc.key] = tc.foreign
				tr.Metadata = md
				err := reg.Validate(tr)
				var fe *scalers.FieldError
				if !errors.As(err, &fe) || fe.Key != tc.key || !strings.Contains(err.Error(), "spec.allowedEndpoints") {
					t.Fatalf("pending=%v: the foreign endpoint: error %v, want one on key %q naming spec.allowedEndpoints", pending, err, tc.key)
				}
				if strings.Contains(err.Error(), "evil") || strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows a value: %v", err)
				}
				// Unpinned, the same metadata is valid.
				tr.Pin = nil
				if err := reg.Validate(tr); err != nil {
					t.Errorf("pending=%v: unpinned, the foreign endpoint is refused: %v", pending, err)
				}
			}
		})
	}
}
