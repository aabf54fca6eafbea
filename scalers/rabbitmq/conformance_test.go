package rabbitmq

import (
	"testing"

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
		Unreachable: trigger(with(valid, "host", "amqp://"+scalertest.FreeAddr(t)+"/"), auth),
		Bad: append(commonBad(valid, auth), []scalertest.BadMetadata{
			{Name: "MessageRate over AMQP", Trigger: trigger(with(valid, "mode", "MessageRate"), auth), Key: "mode"},
			{Name: "useRegex over AMQP", Trigger: trigger(with(valid, "useRegex", "true"), auth), Key: "useRegex"},
			{Name: "excludeUnacknowledged over AMQP", Trigger: trigger(with(valid, "excludeUnacknowledged", "true"), auth), Key: "excludeUnacknowledged"},
			{Name: "protocol http with an AMQP host", Trigger: trigger(with(valid, "protocol", "http"), auth), Key: "protocol"},
			{Name: "protocol amqp with a MessageRate mode", Trigger: trigger(with(valid, "protocol", "amqp", "mode", "MessageRate"), auth), Key: "mode"},
		}...),
		Secrets: []string{conformancePassword},
		Open:    typ.OpenConnections,
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
		Unreachable: trigger(with(valid, "host", "http://"+scalertest.FreeAddr(t)+"/"), auth),
		Bad: append(commonBad(valid, auth), []scalertest.BadMetadata{
			{Name: "protocol amqp with a management host", Trigger: trigger(with(valid, "protocol", "amqp"), auth), Key: "protocol"},
			{Name: "an operation without useRegex", Trigger: trigger(with(valid, "operation", "max"), auth), Key: "operation"},
			{Name: "an operation that is not sum, avg or max", Trigger: trigger(with(valid, "useRegex", "true", "operation", "median"), auth), Key: "operation"},
			{Name: "useRegex that is not a boolean", Trigger: trigger(with(valid, "useRegex", "yes please"), auth), Key: "useRegex"},
			{Name: "excludeUnacknowledged that is not a boolean", Trigger: trigger(with(valid, "excludeUnacknowledged", "sometimes"), auth), Key: "excludeUnacknowledged"},
			{Name: "a page size of zero", Trigger: trigger(with(valid, "useRegex", "true", "pageSize", "0"), auth), Key: "pageSize"},
			{Name: "a page size that is not a number", Trigger: trigger(with(valid, "pageSize", "many"), auth), Key: "pageSize"},
		}...),
		Secrets: []string{conformancePassword},
		Open:    typ.OpenConnections,
	})
}

// commonBad is the bad metadata both protocols reject.
func commonBad(valid, auth map[string]string) []scalertest.BadMetadata {
	bad := func(name, key string, meta map[string]string) scalertest.BadMetadata {
		return scalertest.BadMetadata{Name: name, Trigger: trigger(meta, auth), Key: key}
	}
	envHost := trigger(with(valid, "host", "", "hostFromEnv", "RABBITMQ_URL"), auth)
	envHost.Env = map[string]string{"OTHER": "x"}
	return []scalertest.BadMetadata{
		bad("a missing host", "host", with(valid, "host", "")),
		bad("a host that is not a URL", "host", with(valid, "host", "rabbit without a scheme")),
		bad("a host with an unknown scheme", "host", with(valid, "host", "ftp://rabbit.example/")),
		bad("a host without a host name", "host", with(valid, "host", "amqp:///vh")),
		{Name: "hostFromEnv naming a variable the container lacks", Trigger: envHost, Key: "host"},
		bad("a missing queue name", "queueName", with(valid, "queueName", "")),
		bad("a blank queue name", "queueName", with(valid, "queueName", "  ")),
		bad("a mode that is neither QueueLength nor MessageRate", "mode", with(valid, "mode", "Depth")),
		bad("a missing value", "value", with(valid, "value", "")),
		bad("a value that is not a number", "value", with(valid, "value", "ten")),
		bad("a value of zero", "value", with(valid, "value", "0")),
		bad("a negative value", "value", with(valid, "value", "-3")),
		bad("a queueLength that is not a number", "queueLength", with(valid, "queueLength", "lots")),
		bad("both value and queueLength", "queueLength", with(valid, "queueLength", "5")),
		bad("an activation value that is not a number", "activationValue", with(valid, "activationValue", "some")),
		bad("a negative activation value", "activationValue", with(valid, "activationValue", "-1")),
		bad("a protocol that is not auto, amqp or http", "protocol", with(valid, "protocol", "stomp")),
		bad("a timeout that is not a duration", "timeout", with(valid, "timeout", "soon")),
		bad("a timeout of zero", "timeout", with(valid, "timeout", "0")),
		bad("a negative timeout", "timeout", with(valid, "timeout", "-5s")),
		bad("a password in metadata", "password", with(valid, "password", "guest")),
		bad("a username in metadata", "username", with(valid, "username", "guest")),
		bad("a password from the environment", "password", with(valid, "passwordFromEnv", "PW")),
		bad("KEDA's key misspelt as vhost (it is vhostName)", "vhost", with(valid, "vhost", "vh")),
	}
}

// The host, with its credentials, may come from the TriggerAuthentication (as
// KEDA users usually write it) or from the target's environment (hostFromEnv).
func TestAHostFromTheTriggerAuthenticationReads(t *testing.T) {
	a := newAdmin(t)
	q := a.queue("auth-host")
	a.publish(q, 4)
	sc := newScaler(t, NewType(), trigger(map[string]string{"queueName": q, "value": "2"}, map[string]string{"host": amqpURL}))
	eventuallyReads(t, sc, 4)
	tr := trigger(map[string]string{"queueName": q, "value": "2", "hostFromEnv": "RABBITMQ_URL"}, nil)
	tr.Env = map[string]string{"RABBITMQ_URL": amqpURL}
	eventuallyReads(t, newScaler(t, NewType(), tr), 4)
}
