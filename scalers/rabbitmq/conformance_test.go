// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"testing"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// The password the conformance triggers use; the suite checks that it never
// appears in an error. guest's real password is given in the
// TriggerAuthentication so that the suite's checks cover it.
const conformancePassword = "guest"

func TestConformanceOverAMQP(t *testing.T) {
	a := newAdmin(t)
	q := a.queue("conformance-amqp")
	typ := NewType()
	auth := map[string]string{"username": "guest", "password": conformancePassword}
	valid := map[string]string{"host": "amqp://" + amqpAddr + "/", "queueName": q, "value": "10"}
	scalertest.Run(t, scalertest.Suite{
		Type:        typ,
		Valid:       trigger(valid, auth),
		Unreachable: trigger(scalertest.With(valid, "host", "amqp://"+scalertest.FreeAddr(t)+"/"), auth),
		Bad: append(commonBad(valid, auth), []scalertest.BadMetadata{
			{Name: "MessageRate over AMQP", Trigger: trigger(scalertest.With(valid, "mode", "MessageRate"), auth), Key: "mode"},
			{Name: "useRegex over AMQP", Trigger: trigger(scalertest.With(valid, "useRegex", "true"), auth), Key: "useRegex"},
			{Name: "excludeUnacknowledged over AMQP", Trigger: trigger(scalertest.With(valid, "excludeUnacknowledged", "true"), auth), Key: "excludeUnacknowledged"},
			{Name: "protocol http with an AMQP host", Trigger: trigger(scalertest.With(valid, "protocol", "http"), auth), Key: "protocol"},
			{Name: "protocol amqp with a MessageRate mode", Trigger: trigger(scalertest.With(valid, "protocol", "amqp", "mode", "MessageRate"), auth), Key: "mode"},
		}...),
		Secrets:    []string{conformancePassword},
		Open:       typ.OpenConnections,
		WithEgress: func(e *scalers.Egress) scalers.Type { return NewTypeWithEgress(e) },
		At: func(addr string) scalers.Trigger {
			return trigger(scalertest.With(valid, "host", "amqp://"+addr+"/"), auth)
		},
		Hostile: amqpHostile,
	})
}

func TestConformanceOverTheManagementAPI(t *testing.T) {
	requireManagement(t)
	a := newAdmin(t)
	q := a.queueWithStats("conformance-http")
	typ := NewType()
	auth := map[string]string{"username": "guest", "password": conformancePassword}
	valid := map[string]string{"host": "http://" + mgmtAddr + "/", "queueName": q, "value": "10"}
	scalertest.Run(t, scalertest.Suite{
		Type:        typ,
		Valid:       trigger(valid, auth),
		Unreachable: trigger(scalertest.With(valid, "host", "http://"+scalertest.FreeAddr(t)+"/"), auth),
		Bad: append(commonBad(valid, auth), []scalertest.BadMetadata{
			{Name: "protocol amqp with a management host", Trigger: trigger(scalertest.With(valid, "protocol", "amqp"), auth), Key: "protocol"},
			{Name: "an operation without useRegex", Trigger: trigger(scalertest.With(valid, "operation", "max"), auth), Key: "operation"},
			{Name: "an operation that is not sum, avg or max", Trigger: trigger(scalertest.With(valid, "useRegex", "true", "operation", "median"), auth), Key: "operation"},
			{Name: "useRegex that is not a boolean", Trigger: trigger(scalertest.With(valid, "useRegex", "yes please"), auth), Key: "useRegex"},
			{Name: "excludeUnacknowledged that is not a boolean", Trigger: trigger(scalertest.With(valid, "excludeUnacknowledged", "sometimes"), auth), Key: "excludeUnacknowledged"},
			{Name: "a page size of zero", Trigger: trigger(scalertest.With(valid, "useRegex", "true", "pageSize", "0"), auth), Key: "pageSize"},
			{Name: "a page size that is not a number", Trigger: trigger(scalertest.With(valid, "pageSize", "many"), auth), Key: "pageSize"},
		}...),
		Secrets:    []string{conformancePassword},
		Open:       typ.OpenConnections,
		WithEgress: func(e *scalers.Egress) scalers.Type { return NewTypeWithEgress(e) },
		At: func(addr string) scalers.Trigger {
			return trigger(scalertest.With(valid, "host", "http://"+addr+"/"), auth)
		},
	})
}

// commonBad is the bad metadata both protocols reject.
func commonBad(valid, auth map[string]string) []scalertest.BadMetadata {
	bad := func(name, key string, meta map[string]string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Trigger: trigger(meta, auth), Key: key}
	}
	envHost := trigger(scalertest.With(valid, "host", "", "hostFromEnv", "RABBITMQ_URL"), auth)
	envHost.Env = map[string]string{"OTHER": "x"}
	return []scalertest.BadMetadata{
		bad("a missing host", "host", scalertest.With(valid, "host", "")),
		bad("a host that is not a URL", "host", scalertest.With(valid, "host", "rabbit without a scheme")),
		bad("a host with an unknown scheme", "host", scalertest.With(valid, "host", "ftp://rabbit.example/")),
		bad("a host without a host name", "host", scalertest.With(valid, "host", "amqp:///vh")),
		{Name: "hostFromEnv naming a variable the container lacks", Trigger: envHost, Key: "host"},
		bad("a missing queue name", "queueName", scalertest.With(valid, "queueName", "")),
		bad("a blank queue name", "queueName", scalertest.With(valid, "queueName", "  ")),
		bad("a mode that is none of the five", "mode", scalertest.With(valid, "mode", "Depth")),
		bad("a missing value", "value", scalertest.With(valid, "value", "")),
		bad("a value that is not a number", "value", scalertest.With(valid, "value", "ten")),
		bad("a value of zero", "value", scalertest.With(valid, "value", "0")),
		bad("a negative value", "value", scalertest.With(valid, "value", "-3")),
		bad("a queueLength that is not a number", "queueLength", scalertest.With(valid, "queueLength", "lots")),
		bad("both value and queueLength", "queueLength", scalertest.With(valid, "queueLength", "5")),
		bad("an activation value that is not a number", "activationValue", scalertest.With(valid, "activationValue", "some")),
		bad("a negative activation value", "activationValue", scalertest.With(valid, "activationValue", "-1")),
		bad("a protocol that is not auto, amqp or http", "protocol", scalertest.With(valid, "protocol", "stomp")),
		bad("a timeout that is not a duration", "timeout", scalertest.With(valid, "timeout", "soon")),
		bad("a timeout of zero", "timeout", scalertest.With(valid, "timeout", "0")),
		bad("a negative timeout", "timeout", scalertest.With(valid, "timeout", "-5s")),
		bad("a password in metadata", "password", scalertest.With(valid, "password", "guest")),
		bad("a username in metadata", "username", scalertest.With(valid, "username", "guest")),
		bad("a password from the environment", "password", scalertest.With(valid, "passwordFromEnv", "PW")),
		bad("KEDA's key misspelt as vhost (it is vhostName)", "vhost", scalertest.With(valid, "vhost", "vh")),
	}
}

// The host, with its credentials, may come from the TriggerAuthentication (as
// KEDA users usually write it) or from the target's environment (hostFromEnv).
func TestAHostFromTheTriggerAuthenticationReads(t *testing.T) {
	a := newAdmin(t)
	q := a.queue("auth-host")
	a.publish(q, 4)
	sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"queueName": q, "value": "2"}, map[string]string{"host": amqpURL}))
	eventuallyReads(t, sc, 4)
	tr := trigger(map[string]string{"queueName": q, "value": "2", "hostFromEnv": "RABBITMQ_URL"}, nil)
	tr.Env = map[string]string{"RABBITMQ_URL": amqpURL}
	eventuallyReads(t, scalertest.NewScaler(t, NewType(), tr), 4)
}
