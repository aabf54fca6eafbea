// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"testing"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// The password the conformance triggers carry. The shared server has no
// authentication and ignores it, so the suite's checks that no secret
// appears in an error cover a real credential path.
const conformancePassword = "conformance-Pw-4f9c2e"

func TestConformanceOverTheProtocol(t *testing.T) {
	a := newAdmin(t)
	stream := a.stream("conformance")
	consumer, _ := a.pullConsumer(stream, "worker")
	typ := NewType()
	auth := map[string]string{"username": "ebb", "password": conformancePassword}
	valid := map[string]string{"natsServerURL": natsURL, "stream": stream, "consumer": consumer, "lagThreshold": "10"}
	envURL := trigger(scalertest.With(valid, "natsServerURL", "", "natsServerURLFromEnv", "NATS_URL"), auth)
	envURL.Env = map[string]string{"OTHER": "x"}
	bad := func(name, key string, meta map[string]string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Trigger: trigger(meta, auth), Key: key}
	}
	scalertest.Run(t, scalertest.Suite{
		Type:        typ,
		Valid:       trigger(valid, auth),
		Unreachable: trigger(scalertest.With(valid, "natsServerURL", "nats://"+scalertest.FreeAddr(t)), auth),
		Bad: append(commonBad(valid, auth), []scalertest.BadMetadata{
			bad("neither natsServerURL nor natsServerMonitoringEndpoint", "natsServerMonitoringEndpoint", scalertest.With(valid, "natsServerURL", "")),
			bad("both natsServerURL and natsServerMonitoringEndpoint", "natsServerURL", scalertest.With(valid, "natsServerMonitoringEndpoint", "127.0.0.1:8222")),
			bad("a natsServerURL with an http scheme", "natsServerURL", scalertest.With(valid, "natsServerURL", "http://127.0.0.1:4222")),
			bad("a natsServerURL without a host", "natsServerURL", scalertest.With(valid, "natsServerURL", "nats://:4222")),
			bad("a natsServerURL with a port out of range", "natsServerURL", scalertest.With(valid, "natsServerURL", "nats://127.0.0.1:70000")),
			bad("a natsServerURL with a path", "natsServerURL", scalertest.With(valid, "natsServerURL", "nats://127.0.0.1:4222/orders")),
			bad("a natsServerURL list with an empty entry", "natsServerURL", scalertest.With(valid, "natsServerURL", natsURL+",,"+natsURL)),
			{Name: "natsServerURLFromEnv naming a variable the container lacks", Trigger: envURL, Key: "natsServerURL"},
			bad("an account over natsServerURL", "account", scalertest.With(valid, "account", "$G")),
			bad("useHttps over natsServerURL", "useHttps", scalertest.With(valid, "useHttps", "true")),
			bad("a password in metadata", "password", scalertest.With(valid, "password", "hunter2")),
			bad("a token in metadata", "token", scalertest.With(valid, "token", "t0ken")),
			bad("a username in metadata", "username", scalertest.With(valid, "username", "ebb")),
			{Name: "a token together with a username and password", Trigger: trigger(valid, scalertest.With(auth, "token", "t0ken")), Key: "token"},
			{Name: "an nkey seed together with a token", Trigger: trigger(valid, map[string]string{"token": "t0ken", "nkeySeed": "SUAAA"}), Key: "nkeySeed"},
			{Name: "an nkey seed that is not one", Trigger: trigger(valid, map[string]string{"nkeySeed": "SUnotaseed"}), Key: "nkeySeed"},
			{Name: "a password without a user", Trigger: trigger(valid, map[string]string{"password": conformancePassword}), Key: "password"},
		}...),
		Secrets:    []string{conformancePassword},
		Open:       typ.OpenConnections,
		WithEgress: func(e *scalers.Egress) scalers.Type { return NewTypeWithEgress(e) },
		At: func(addr string) scalers.Trigger {
			return trigger(scalertest.With(valid, "natsServerURL", "nats://"+addr), auth)
		},
		Hostile: natsHostile,
	})
}

func TestConformanceOverTheMonitoringEndpoint(t *testing.T) {
	srv := startServer(t, serverOptions{})
	a := connectAdmin(t, srv.url())
	stream := a.stream("conformance")
	consumer, _ := a.pullConsumer(stream, "worker")
	typ := NewType()
	valid := map[string]string{"natsServerMonitoringEndpoint": srv.monitor, "account": "$G", "stream": stream, "consumer": consumer, "lagThreshold": "10"}
	bad := func(name, key string, meta map[string]string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Trigger: trigger(meta, nil), Key: key}
	}
	scalertest.Run(t, scalertest.Suite{
		Type:        typ,
		Valid:       trigger(valid, nil),
		Unreachable: trigger(scalertest.With(valid, "natsServerMonitoringEndpoint", scalertest.FreeAddr(t)), nil),
		Bad: append(commonBad(valid, nil), []scalertest.BadMetadata{
			bad("a monitoring endpoint with a scheme", "natsServerMonitoringEndpoint", scalertest.With(valid, "natsServerMonitoringEndpoint", "http://"+srv.monitor)),
			bad("a monitoring endpoint without a port", "natsServerMonitoringEndpoint", scalertest.With(valid, "natsServerMonitoringEndpoint", "127.0.0.1")),
			bad("a monitoring endpoint with a path", "natsServerMonitoringEndpoint", scalertest.With(valid, "natsServerMonitoringEndpoint", srv.monitor+"/jsz")),
			bad("a monitoring endpoint with a port that is not a number", "natsServerMonitoringEndpoint", scalertest.With(valid, "natsServerMonitoringEndpoint", "127.0.0.1:http")),
			bad("useHttps that is not a boolean", "useHttps", scalertest.With(valid, "useHttps", "sometimes")),
			{Name: "a username with the monitoring endpoint", Trigger: trigger(valid, map[string]string{"username": "ebb", "password": "pw"}), Key: "username"},
			{Name: "a token with the monitoring endpoint", Trigger: trigger(valid, map[string]string{"token": "t0ken"}), Key: "token"},
		}...),
		Open:       typ.OpenConnections,
		WithEgress: func(e *scalers.Egress) scalers.Type { return NewTypeWithEgress(e) },
		At: func(addr string) scalers.Trigger {
			return trigger(scalertest.With(valid, "natsServerMonitoringEndpoint", addr), nil)
		},
	})
}

// commonBad is the bad metadata both sources reject.
func commonBad(valid, auth map[string]string) []scalertest.BadMetadata {
	bad := func(name, key string, meta map[string]string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Trigger: trigger(meta, auth), Key: key}
	}
	return []scalertest.BadMetadata{
		bad("a missing stream", "stream", scalertest.With(valid, "stream", "")),
		bad("a stream name with a dot", "stream", scalertest.With(valid, "stream", "orders.eu")),
		bad("a stream name with a wildcard", "stream", scalertest.With(valid, "stream", "orders*")),
		bad("a stream name with a space", "stream", scalertest.With(valid, "stream", "my orders")),
		bad("a stream name with a slash", "stream", scalertest.With(valid, "stream", "orders/eu")),
		bad("a missing consumer", "consumer", scalertest.With(valid, "consumer", "")),
		bad("a consumer name with '>'", "consumer", scalertest.With(valid, "consumer", "worker>")),
		bad("a lagThreshold of zero", "lagThreshold", scalertest.With(valid, "lagThreshold", "0")),
		bad("a negative lagThreshold", "lagThreshold", scalertest.With(valid, "lagThreshold", "-5")),
		bad("a lagThreshold that is not a number", "lagThreshold", scalertest.With(valid, "lagThreshold", "ten")),
		bad("a negative activationLagThreshold", "activationLagThreshold", scalertest.With(valid, "activationLagThreshold", "-1")),
		bad("an activationLagThreshold that is not a number", "activationLagThreshold", scalertest.With(valid, "activationLagThreshold", "some")),
		bad("a timeout that is not a duration", "timeout", scalertest.With(valid, "timeout", "soon")),
		bad("a timeout of zero", "timeout", scalertest.With(valid, "timeout", "0s")),
		bad("a timeout above an hour", "timeout", scalertest.With(valid, "timeout", "2h")),
		bad("KEDA's key misspelt as natsServerMonitoringEndPoint", "natsServerMonitoringEndPoint", scalertest.With(valid, "natsServerMonitoringEndPoint", "x:1")),
	}
}
