// SPDX-License-Identifier: Apache-2.0

package kafka_test

import (
	"fmt"
	"testing"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/kafka"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestConformance(t *testing.T) {
	const user, pass = "conformance", "conformance-s3cret-pw"
	c := startCluster(t, clusterOpts{mechanism: "SCRAM-SHA-512", user: user, password: pass})
	topic := c.topic(3)
	c.produce(topic, 1, 2, 3)
	auth := map[string]string{"sasl": "scram_sha512", "username": user, "password": pass}
	valid := trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic), auth)
	unreachable := trigger(md("bootstrapServers", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "consumerGroup", "g", "topic", topic), auth)

	// with returns the valid trigger with metadata (and auth) keys changed;
	// an empty value removes the key.
	with := func(kv ...string) scalers.Trigger {
		tr := valid
		tr.Metadata, tr.AuthParams = map[string]string{}, map[string]string{}
		for k, v := range valid.Metadata {
			tr.Metadata[k] = v
		}
		for k, v := range valid.AuthParams {
			tr.AuthParams[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			target := tr.Metadata
			switch kv[i] {
			case "sasl", "username", "password", "tls", "ca", "cert", "key", "keyPassword":
				target = tr.AuthParams
			}
			if kv[i+1] == "" {
				delete(target, kv[i])
			} else {
				target[kv[i]] = kv[i+1]
			}
		}
		return tr
	}
	inMetadata := func(key, value string) scalers.Trigger {
		tr := with()
		tr.Metadata[key] = value
		return tr
	}
	bad := []scalertest.BadMetadata{
		{Name: "a missing bootstrapServers", Trigger: with("bootstrapServers", ""), Key: "bootstrapServers"},
		{Name: "a bootstrap server with no port", Trigger: with("bootstrapServers", "kafka-0"), Key: "bootstrapServers"},
		{Name: "a bootstrap server with a port that is not a number", Trigger: with("bootstrapServers", "kafka-0:9092,kafka-1:http"), Key: "bootstrapServers"},
		{Name: "an empty bootstrapServers", Trigger: with("bootstrapServers", " , "), Key: "bootstrapServers"},
		{Name: "a missing consumerGroup", Trigger: with("consumerGroup", ""), Key: "consumerGroup"},
		{Name: "a lagThreshold that is not a number", Trigger: with("lagThreshold", "ten"), Key: "lagThreshold"},
		{Name: "a lagThreshold of zero", Trigger: with("lagThreshold", "0"), Key: "lagThreshold"},
		{Name: "a fractional lagThreshold", Trigger: with("lagThreshold", "2.5"), Key: "lagThreshold"},
		{Name: "a negative activationLagThreshold", Trigger: with("activationLagThreshold", "-1"), Key: "activationLagThreshold"},
		{Name: "an unknown offsetResetPolicy", Trigger: with("offsetResetPolicy", "smallest"), Key: "offsetResetPolicy"},
		{Name: "an allowIdleConsumers that is not a boolean", Trigger: with("allowIdleConsumers", "maybe"), Key: "allowIdleConsumers"},
		{Name: "a limitToPartitionsWithLag that is not a boolean", Trigger: with("limitToPartitionsWithLag", "yes please"), Key: "limitToPartitionsWithLag"},
		{Name: "limitToPartitionsWithLag together with allowIdleConsumers", Trigger: with("limitToPartitionsWithLag", "true", "allowIdleConsumers", "true"), Key: "limitToPartitionsWithLag"},
		{Name: "limitToPartitionsWithLag without a topic", Trigger: with("limitToPartitionsWithLag", "true", "topic", ""), Key: "limitToPartitionsWithLag"},
		{Name: "an excludePersistentLag that is not a boolean", Trigger: with("excludePersistentLag", "often"), Key: "excludePersistentLag"},
		{Name: "a scaleToZeroOnInvalidOffset that is not a boolean", Trigger: with("scaleToZeroOnInvalidOffset", "2"), Key: "scaleToZeroOnInvalidOffset"},
		{Name: "a partitionLimitation that is not a list of ids", Trigger: with("partitionLimitation", "0,one"), Key: "partitionLimitation"},
		{Name: "a partitionLimitation with a backwards range", Trigger: with("partitionLimitation", "5-2"), Key: "partitionLimitation"},
		{Name: "a partitionLimitation with a negative id", Trigger: with("partitionLimitation", "-1"), Key: "partitionLimitation"},
		{Name: "a partitionLimitation without a topic", Trigger: with("partitionLimitation", "0,1", "topic", ""), Key: "partitionLimitation"},
		{Name: "an unsupported sasl mechanism", Trigger: with("sasl", "gssapi"), Key: "sasl"},
		{Name: "sasl without a username", Trigger: with("username", ""), Key: "username"},
		{Name: "sasl without a password", Trigger: with("password", ""), Key: "password"},
		{Name: "a password in metadata", Trigger: inMetadata("password", pass), Key: "password"},
		{Name: "a username in metadata", Trigger: inMetadata("username", user), Key: "username"},
		{Name: "a tls that is neither enable nor disable", Trigger: with("tls", "true"), Key: "tls"},
		{Name: "an unsafeSsl that is not a boolean", Trigger: with("tls", "enable", "unsafeSsl", "sure"), Key: "unsafeSsl"},
		{Name: "a ca that is not PEM", Trigger: with("tls", "enable", "ca", "not a certificate"), Key: "ca"},
		{Name: "a ca with tls disabled", Trigger: with("ca", testPKI(t).caPEM), Key: "ca"},
		{Name: "a cert without a key", Trigger: with("tls", "enable", "cert", testPKI(t).clientCertPEM), Key: "key"},
		{Name: "a key without a cert", Trigger: with("tls", "enable", "key", testPKI(t).clientKeyPEM), Key: "cert"},
		{Name: "a key that does not match the cert", Trigger: with("tls", "enable", "cert", testPKI(t).clientCertPEM, "key", testPKI(t).otherKeyPEM), Key: "cert"},
		{Name: "an encrypted key without keyPassword", Trigger: with("tls", "enable", "cert", testPKI(t).clientCertPEM, "key", testPKI(t).encryptedKeyPEM), Key: "keyPassword"},
		{Name: "a wrong keyPassword", Trigger: with("tls", "enable", "cert", testPKI(t).clientCertPEM, "key", testPKI(t).encryptedKeyPEM, "keyPassword", "wrong"), Key: "keyPassword"},
		{Name: "a key read from the environment", Trigger: inMetadata("keyFromEnv", "KEY"), Key: "key"},
	}
	typ := kafka.NewType()
	scalertest.Run(t, scalertest.Suite{
		Type:        typ,
		Valid:       valid,
		Unreachable: unreachable,
		Bad:         bad,
		Secrets:     []string{pass, testPKI(t).clientKeyPEM, testPKI(t).keyPassword},
		Open:        typ.OpenConnections,
		WithEgress:  func(e *scalers.Egress) scalers.Type { return kafka.NewTypeWithEgress(e) },
		At:          func(addr string) scalers.Trigger { return with("bootstrapServers", addr) },
	})
}

func TestAdmissionAcceptsKeysThatWaitForTheTriggerAuthentication(t *testing.T) {
	typ := kafka.NewType()
	tr := trigger(md("bootstrapServersFromEnv", "BROKERS", "consumerGroup", "g", "sasl", "plaintext"), nil)
	tr.AuthPending = true
	if err := typ.Validate(tr); err != nil {
		t.Fatalf("Validate at admission = %v, want nil (bootstrapServers and credentials come later)", err)
	}
	tr.AuthPending = false
	tr.Env = map[string]string{"BROKERS": "kafka-0:9092,kafka-1:9092"}
	if err := typ.Validate(tr); err == nil || !contains(err.Error(), `"username"`) {
		t.Fatalf("Validate once resolved = %v, want an error naming username", err)
	}
	tr.AuthParams = map[string]string{"username": "u", "password": "p"}
	if err := typ.Validate(tr); err != nil {
		t.Fatalf("Validate with everything resolved = %v", err)
	}
}

func TestKEDAsVersionKeyIsAcceptedAndIgnored(t *testing.T) {
	typ := kafka.NewType()
	if err := typ.Validate(trigger(md("bootstrapServers", "kafka:9092", "consumerGroup", "g", "version", "1.0.0"), nil)); err != nil {
		t.Fatalf("Validate = %v", err)
	}
}

func TestTheMetricIsNamedAfterTheTopicOrTheGroup(t *testing.T) {
	typ := kafka.NewType()
	for _, tc := range []struct {
		name string
		md   map[string]string
		want string
	}{
		{"a topic names the metric", md("bootstrapServers", "k:9092", "consumerGroup", "billing", "topic", "Orders.v2"), "s0-kafka-orders-v2"},
		{"without a topic, the group names it", md("bootstrapServers", "k:9092", "consumerGroup", "billing"), "s0-kafka-billing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := scalertest.NewScaler(t, typ, trigger(tc.md, nil))
			m := sc.Metric()
			if m.Name != tc.want || m.Target != 10 || m.ActivationTarget != 0 {
				t.Errorf("Metric() = %+v, want name %q, target 10 (the default lagThreshold), activation 0", m, tc.want)
			}
		})
	}
}
