// SPDX-License-Identifier: Apache-2.0

package kafka_test

import (
	"strings"
	"testing"

	"github.com/ebbscale/ebb/scalers/kafka"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestTLSToTheBrokers(t *testing.T) {
	p := testPKI(t)
	c := startCluster(t, clusterOpts{serverTLS: p.serverTLS(false), clientTLS: p.clientTLS(t)})
	topic := c.topic(2)
	c.produce(topic, 4, 5)
	typ := kafka.NewType()
	m := md("bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic, "offsetResetPolicy", "earliest")

	t.Run("reads when the cluster's CA is given", func(t *testing.T) {
		expectReading(t, scalertest.NewScaler(t, typ, trigger(m, map[string]string{"tls": "enable", "ca": p.caPEM})), 9, true)
	})
	t.Run("reads with unsafeSsl and no CA", func(t *testing.T) {
		expectReading(t, scalertest.NewScaler(t, typ, trigger(m, map[string]string{"tls": "enable", "unsafeSsl": "true"})), 9, true)
	})
	t.Run("fails to verify a certificate from an unknown authority", func(t *testing.T) {
		err := readErr(t, scalertest.NewScaler(t, typ, trigger(m, map[string]string{"tls": "enable"})))
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error %q does not say the certificate failed to verify", err)
		}
	})
	t.Run("a plaintext client on a TLS listener is an error", func(t *testing.T) {
		readErr(t, scalertest.NewScaler(t, typ, trigger(m, nil)))
	})
}

func TestMutualTLSWithAClientCertificate(t *testing.T) {
	p := testPKI(t)
	c := startCluster(t, clusterOpts{serverTLS: p.serverTLS(true), clientTLS: p.clientTLS(t)})
	topic := c.topic(1)
	c.produce(topic, 6)
	typ := kafka.NewType()
	m := md("bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic, "offsetResetPolicy", "earliest")

	t.Run("reads with the certificate and its key", func(t *testing.T) {
		expectReading(t, scalertest.NewScaler(t, typ, trigger(m, map[string]string{"tls": "enable", "ca": p.caPEM, "cert": p.clientCertPEM, "key": p.clientKeyPEM})), 6, true)
	})
	t.Run("reads with an encrypted key and its keyPassword", func(t *testing.T) {
		auth := map[string]string{"tls": "enable", "ca": p.caPEM, "cert": p.clientCertPEM, "key": p.encryptedKeyPEM, "keyPassword": p.keyPassword}
		expectReading(t, scalertest.NewScaler(t, typ, trigger(m, auth)), 6, true)
	})
	t.Run("is refused without a client certificate", func(t *testing.T) {
		err := readErr(t, scalertest.NewScaler(t, typ, trigger(m, map[string]string{"tls": "enable", "ca": p.caPEM})))
		if strings.Contains(err.Error(), p.clientKeyPEM) {
			t.Errorf("error text contains the key")
		}
	})
}
