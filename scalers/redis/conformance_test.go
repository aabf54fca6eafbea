// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"testing"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestConformanceOfTheRedisListTrigger(t *testing.T) {
	a := newAdmin(t)
	user, password := a.user()
	list := a.list(3)
	lists, _, _ := testTypes(t)
	auth := map[string]string{"username": user, "password": password}
	valid := map[string]string{"address": redisAddr, "listName": list, "listLength": "10"}
	bad := func(name, key string, meta map[string]string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Trigger: listTrigger(meta, auth), Key: key}
	}
	scalertest.Run(t, scalertest.Suite{
		Type:        lists,
		Valid:       listTrigger(valid, auth),
		Unreachable: listTrigger(scalertest.With(valid, "address", scalertest.FreeAddr(t)), auth),
		Bad: append(connectionBad(valid, listTrigger, auth), []scalertest.BadMetadata{
			bad("a missing list name", "listName", scalertest.With(valid, "listName", "")),
			bad("a blank list name", "listName", scalertest.With(valid, "listName", "  ")),
			bad("a list length of zero", "listLength", scalertest.With(valid, "listLength", "0")),
			bad("a negative list length", "listLength", scalertest.With(valid, "listLength", "-2")),
			bad("a list length that is not a number", "listLength", scalertest.With(valid, "listLength", "many")),
			bad("an activation list length that is not a number", "activationListLength", scalertest.With(valid, "activationListLength", "some")),
			bad("a negative activation list length", "activationListLength", scalertest.With(valid, "activationListLength", "-1")),
			bad("a streams key on a list trigger", "stream", scalertest.With(valid, "stream", "s")),
		}...),
		Secrets:    []string{password},
		Open:       lists.OpenConnections,
		WithEgress: func(e *scalers.Egress) scalers.Type { l, _ := NewTypesWithEgress(e); return l },
		At:         func(addr string) scalers.Trigger { return listTrigger(scalertest.With(valid, "address", addr), auth) },
		Hostile:    redisHostile,
	})
}

func TestConformanceOfTheRedisStreamsTrigger(t *testing.T) {
	a := newAdmin(t)
	user, password := a.user()
	stream := a.stream(3)
	group := a.group(stream, "0")
	_, streams, _ := testTypes(t)
	auth := map[string]string{"username": user, "password": password}
	for _, mode := range []struct{ name, key string }{
		{"pending entries", "pendingEntriesCount"},
		{"lag", "lagCount"},
		{"stream length", "streamLength"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			valid := map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": group, mode.key: "10"}
			bad := func(name, key string, meta map[string]string) scalertest.BadMetadata {
				return scalertest.BadMetadata{Name: name, Trigger: streamTrigger(meta, auth), Key: key}
			}
			scalertest.Run(t, scalertest.Suite{
				Type:        streams,
				Valid:       streamTrigger(valid, auth),
				Unreachable: streamTrigger(scalertest.With(valid, "address", scalertest.FreeAddr(t)), auth),
				Bad: append(connectionBad(valid, streamTrigger, auth), []scalertest.BadMetadata{
					bad("a missing stream", "stream", scalertest.With(valid, "stream", "")),
					bad("a target of zero", mode.key, scalertest.With(valid, mode.key, "0")),
					bad("a negative target", mode.key, scalertest.With(valid, mode.key, "-4")),
					bad("a target that is not a number", mode.key, scalertest.With(valid, mode.key, "ten")),
					bad("a negative activation lag count", "activationLagCount", scalertest.With(valid, "activationLagCount", "-1")),
					bad("an activation lag count that is not a number", "activationLagCount", scalertest.With(valid, "activationLagCount", "x")),
					bad("a list key on a streams trigger", "listName", scalertest.With(valid, "listName", "l")),
				}...),
				Secrets:    []string{password},
				Open:       streams.OpenConnections,
				WithEgress: func(e *scalers.Egress) scalers.Type { _, s := NewTypesWithEgress(e); return s },
				At:         func(addr string) scalers.Trigger { return streamTrigger(scalertest.With(valid, "address", addr), auth) },
				Hostile:    redisHostile,
			})
		})
	}
}

// connectionBad is the bad connection metadata both trigger types reject.
func connectionBad(valid map[string]string, mk func(meta, auth map[string]string) scalers.Trigger, auth map[string]string) []scalertest.BadMetadata {
	bad := func(name, key string, meta map[string]string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Trigger: mk(meta, auth), Key: key}
	}
	envAddr := mk(scalertest.With(valid, "address", "", "addressFromEnv", "REDIS_ADDRESS"), auth)
	envAddr.Env = map[string]string{"OTHER": "x"}
	withAuth := func(name, key string, extra ...string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Trigger: mk(valid, scalertest.With(auth, extra...)), Key: key}
	}
	return []scalertest.BadMetadata{
		bad("no address and no host", "address", scalertest.With(valid, "address", "")),
		bad("an address that is a URL", "address", scalertest.With(valid, "address", "redis://127.0.0.1:6379")),
		bad("an address with user information", "address", scalertest.With(valid, "address", "admin:hunter2@127.0.0.1:6379")),
		bad("an address with a port that is not a number", "address", scalertest.With(valid, "address", "127.0.0.1:redis")),
		bad("an address with port 0", "address", scalertest.With(valid, "address", "127.0.0.1:0")),
		bad("an IPv6 address without brackets", "address", scalertest.With(valid, "address", "::1:6379")),
		bad("both address and host", "host", scalertest.With(valid, "host", "127.0.0.1")),
		bad("both address and port", "port", scalertest.With(valid, "port", "6379")),
		bad("a port without a host", "host", scalertest.With(valid, "address", "", "port", "6379")),
		bad("a port above 65535", "port", scalertest.With(valid, "address", "", "host", "127.0.0.1", "port", "70000")),
		bad("a port that is not a number", "port", scalertest.With(valid, "address", "", "host", "127.0.0.1", "port", "redis")),
		bad("a host with a space", "host", scalertest.With(valid, "address", "", "host", "redis host")),
		{Name: "addressFromEnv naming a variable the container lacks", Trigger: envAddr, Key: "address"},
		bad("a password in metadata", "password", scalertest.With(valid, "password", "hunter2")),
		bad("a username in metadata", "username", scalertest.With(valid, "username", "admin")),
		bad("a negative database index", "databaseIndex", scalertest.With(valid, "databaseIndex", "-1")),
		bad("a database index that is not a number", "databaseIndex", scalertest.With(valid, "databaseIndex", "one")),
		bad("enableTLS that is not a boolean", "enableTLS", scalertest.With(valid, "enableTLS", "yes please")),
		bad("unsafeSsl without TLS", "unsafeSsl", scalertest.With(valid, "unsafeSsl", "true")),
		bad("a timeout of zero", "timeout", scalertest.With(valid, "timeout", "0")),
		bad("a timeout that is not a duration", "timeout", scalertest.With(valid, "timeout", "soon")),
		bad("tls written in metadata (it is a TriggerAuthentication parameter)", "tls", scalertest.With(valid, "tls", "enable")),
		bad("a CA written in metadata", "ca", scalertest.With(valid, "ca", "pem")),
		withAuth("a CA without TLS", "ca", "ca", "-----BEGIN CERTIFICATE-----"),
		withAuth("tls that is neither enable nor disable", "tls", "tls", "on"),
		withAuth("a CA that is not PEM", "ca", "tls", "enable", "ca", "not a certificate"),
		withAuth("a key without a certificate", "cert", "tls", "enable", "key", "-----BEGIN EC PRIVATE KEY-----"),
		withAuth("a certificate without a key", "key", "tls", "enable", "cert", "-----BEGIN CERTIFICATE-----"),
		withAuth("a keyPassword without cert and key", "keyPassword", "tls", "enable", "keyPassword", "pw"),
		{Name: "enableTLS with tls disable", Trigger: mk(scalertest.With(valid, "enableTLS", "true"), scalertest.With(auth, "tls", "disable")), Key: "enableTLS"},
	}
}

func TestConformanceOfTheClusterAndSentinelTriggers(t *testing.T) {
	c := requireCluster(t)
	s := requireSentinel(t)
	ts, _ := allTestTypes(t)
	ctx := context.Background()
	clusterList, sentinelList := c.keyOn(t, 2, "list"), s.key(t, "list")
	clusterStream, sentinelStream := c.keyOn(t, 0, "stream"), s.key(t, "stream")
	if err := c.admin.XGroupCreateMkStream(ctx, clusterStream, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.admin.XGroupCreateMkStream(ctx, sentinelStream, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ   scalers.Type
		valid map[string]string
		with  func(Types) scalers.Type
		bad   []scalertest.BadMetadata
	}{
		{ts.ClusterList, map[string]string{"addresses": c.addresses(), "listName": clusterList},
			func(ts Types) scalers.Type { return ts.ClusterList },
			[]scalertest.BadMetadata{{Name: "a database other than 0", Key: "databaseIndex"}}},
		{ts.ClusterStreams, map[string]string{"addresses": c.addresses(), "stream": clusterStream, "consumerGroup": "g", "lagCount": "3"},
			func(ts Types) scalers.Type { return ts.ClusterStreams },
			[]scalertest.BadMetadata{{Name: "a database other than 0", Key: "databaseIndex"}}},
		{ts.SentinelList, map[string]string{"addresses": s.sentinel.addr, "sentinelMaster": s.name, "listName": sentinelList},
			func(ts Types) scalers.Type { return ts.SentinelList },
			[]scalertest.BadMetadata{{Name: "no sentinelMaster", Key: "sentinelMaster"}, {Name: "a sentinelPassword in metadata", Key: "sentinelPassword"}}},
		{ts.SentinelStreams, map[string]string{"addresses": s.sentinel.addr, "sentinelMaster": s.name, "stream": sentinelStream, "consumerGroup": "g"},
			func(ts Types) scalers.Type { return ts.SentinelStreams },
			[]scalertest.BadMetadata{{Name: "no sentinelMaster", Key: "sentinelMaster"}, {Name: "a sentinelPassword in metadata", Key: "sentinelPassword"}}},
	} {
		t.Run(tc.typ.Name(), func(t *testing.T) {
			name := tc.typ.Name()
			mk := func(meta map[string]string) scalers.Trigger { return trigger(name, meta, nil) }
			var bad []scalertest.BadMetadata
			for _, b := range tc.bad {
				switch b.Key {
				case "databaseIndex":
					b.Trigger = mk(scalertest.With(tc.valid, "databaseIndex", "1"))
				case "sentinelMaster":
					b.Trigger = mk(scalertest.With(tc.valid, "sentinelMaster", ""))
				case "sentinelPassword":
					b.Trigger = mk(scalertest.With(tc.valid, "sentinelPassword", "hunter2"))
				}
				bad = append(bad, b)
			}
			scalertest.Run(t, scalertest.Suite{
				Type:        tc.typ,
				Valid:       mk(tc.valid),
				Unreachable: mk(scalertest.With(tc.valid, "addresses", scalertest.FreeAddr(t))),
				Bad:         append(seedsBad(tc.valid, mk), bad...),
				Open:        ts.List.OpenConnections,
				WithEgress:  func(e *scalers.Egress) scalers.Type { return tc.with(NewAllTypesWithEgress(e)) },
				At:          func(addr string) scalers.Trigger { return mk(scalertest.With(tc.valid, "addresses", addr)) },
				Hostile:     redisHostile,
			})
		})
	}
}

// seedsBad is the bad connection metadata the cluster and sentinel trigger
// types reject.
func seedsBad(valid map[string]string, mk func(meta map[string]string) scalers.Trigger) []scalertest.BadMetadata {
	bad := func(name, key string, kv ...string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Trigger: mk(scalertest.With(valid, kv...)), Key: key}
	}
	return []scalertest.BadMetadata{
		bad("no addresses and no hosts", "addresses", "addresses", ""),
		bad("an address that is a URL", "addresses", "addresses", "127.0.0.1:7000,redis://127.0.0.1:7001"),
		bad("an address with user information", "addresses", "addresses", "admin:hunter2@127.0.0.1:7000"),
		bad("an address with a port that is not a number", "addresses", "addresses", "127.0.0.1:redis"),
		bad("both addresses and hosts", "hosts", "hosts", "127.0.0.1"),
		bad("both addresses and ports", "ports", "ports", "7000"),
		bad("ports without hosts", "hosts", "addresses", "", "ports", "7000"),
		bad("two ports for three hosts", "ports", "addresses", "", "hosts", "a,b,c", "ports", "7000,7001"),
		bad("a port that is not a number", "ports", "addresses", "", "hosts", "a", "ports", "x"),
		bad("a host with a space", "hosts", "addresses", "", "hosts", "redis host"),
		bad("a password in metadata", "password", "password", "hunter2"),
		bad("unsafeSsl without TLS", "unsafeSsl", "unsafeSsl", "true"),
		bad("a timeout of zero", "timeout", "timeout", "0"),
		bad("a single-server address key", "address", "address", "127.0.0.1:6379"),
	}
}
