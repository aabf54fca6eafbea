package redis

import (
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
		Unreachable: listTrigger(with(valid, "address", scalertest.FreeAddr(t)), auth),
		Bad: append(connectionBad(valid, listTrigger, auth), []scalertest.BadMetadata{
			bad("a missing list name", "listName", with(valid, "listName", "")),
			bad("a blank list name", "listName", with(valid, "listName", "  ")),
			bad("a list length of zero", "listLength", with(valid, "listLength", "0")),
			bad("a negative list length", "listLength", with(valid, "listLength", "-2")),
			bad("a list length that is not a number", "listLength", with(valid, "listLength", "many")),
			bad("an activation list length that is not a number", "activationListLength", with(valid, "activationListLength", "some")),
			bad("a negative activation list length", "activationListLength", with(valid, "activationListLength", "-1")),
			bad("a streams key on a list trigger", "stream", with(valid, "stream", "s")),
		}...),
		Secrets: []string{password},
		Open:    lists.OpenConnections,
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
				Unreachable: streamTrigger(with(valid, "address", scalertest.FreeAddr(t)), auth),
				Bad: append(connectionBad(valid, streamTrigger, auth), []scalertest.BadMetadata{
					bad("a missing stream", "stream", with(valid, "stream", "")),
					bad("a target of zero", mode.key, with(valid, mode.key, "0")),
					bad("a negative target", mode.key, with(valid, mode.key, "-4")),
					bad("a target that is not a number", mode.key, with(valid, mode.key, "ten")),
					bad("a negative activation lag count", "activationLagCount", with(valid, "activationLagCount", "-1")),
					bad("an activation lag count that is not a number", "activationLagCount", with(valid, "activationLagCount", "x")),
					bad("a list key on a streams trigger", "listName", with(valid, "listName", "l")),
				}...),
				Secrets: []string{password},
				Open:    streams.OpenConnections,
			})
		})
	}
}

// connectionBad is the bad connection metadata both trigger types reject.
func connectionBad(valid map[string]string, mk func(meta, auth map[string]string) scalers.Trigger, auth map[string]string) []scalertest.BadMetadata {
	bad := func(name, key string, meta map[string]string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Trigger: mk(meta, auth), Key: key}
	}
	envAddr := mk(with(valid, "address", "", "addressFromEnv", "REDIS_ADDRESS"), auth)
	envAddr.Env = map[string]string{"OTHER": "x"}
	withAuth := func(name, key string, extra ...string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Trigger: mk(valid, with(auth, extra...)), Key: key}
	}
	return []scalertest.BadMetadata{
		bad("no address and no host", "address", with(valid, "address", "")),
		bad("an address that is a URL", "address", with(valid, "address", "redis://127.0.0.1:6379")),
		bad("an address with user information", "address", with(valid, "address", "admin:hunter2@127.0.0.1:6379")),
		bad("an address with a port that is not a number", "address", with(valid, "address", "127.0.0.1:redis")),
		bad("an address with port 0", "address", with(valid, "address", "127.0.0.1:0")),
		bad("an IPv6 address without brackets", "address", with(valid, "address", "::1:6379")),
		bad("both address and host", "host", with(valid, "host", "127.0.0.1")),
		bad("both address and port", "port", with(valid, "port", "6379")),
		bad("a port without a host", "host", with(valid, "address", "", "port", "6379")),
		bad("a port above 65535", "port", with(valid, "address", "", "host", "127.0.0.1", "port", "70000")),
		bad("a port that is not a number", "port", with(valid, "address", "", "host", "127.0.0.1", "port", "redis")),
		bad("a host with a space", "host", with(valid, "address", "", "host", "redis host")),
		{Name: "addressFromEnv naming a variable the container lacks", Trigger: envAddr, Key: "address"},
		bad("a password in metadata", "password", with(valid, "password", "hunter2")),
		bad("a username in metadata", "username", with(valid, "username", "admin")),
		bad("a negative database index", "databaseIndex", with(valid, "databaseIndex", "-1")),
		bad("a database index that is not a number", "databaseIndex", with(valid, "databaseIndex", "one")),
		bad("enableTLS that is not a boolean", "enableTLS", with(valid, "enableTLS", "yes please")),
		bad("unsafeSsl without TLS", "unsafeSsl", with(valid, "unsafeSsl", "true")),
		bad("a timeout of zero", "timeout", with(valid, "timeout", "0")),
		bad("a timeout that is not a duration", "timeout", with(valid, "timeout", "soon")),
		bad("tls written in metadata (it is a TriggerAuthentication parameter)", "tls", with(valid, "tls", "enable")),
		bad("a CA written in metadata", "ca", with(valid, "ca", "pem")),
		withAuth("a CA without TLS", "ca", "ca", "-----BEGIN CERTIFICATE-----"),
		withAuth("tls that is neither enable nor disable", "tls", "tls", "on"),
		withAuth("a CA that is not PEM", "ca", "tls", "enable", "ca", "not a certificate"),
		withAuth("a key without a certificate", "cert", "tls", "enable", "key", "-----BEGIN EC PRIVATE KEY-----"),
		withAuth("a certificate without a key", "key", "tls", "enable", "cert", "-----BEGIN CERTIFICATE-----"),
		withAuth("a keyPassword without cert and key", "keyPassword", "tls", "enable", "keyPassword", "pw"),
		{Name: "enableTLS with tls disable", Trigger: mk(with(valid, "enableTLS", "true"), with(auth, "tls", "disable")), Key: "enableTLS"},
	}
}
