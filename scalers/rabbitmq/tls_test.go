// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"strings"
	"testing"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// The loopback broker serves plain AMQP and HTTP, and enabling TLS on it
// would change it for every other test: these tests put a TLS-terminating
// proxy (scalertest.TLSProxy, a throwaway certificate authority) in front of
// its AMQP port and its management API, and read through it.

// overTLS runs test once over AMQP and once over the management API, each
// through a TLS proxy (requiring a client certificate with clientCerts),
// with the metadata of a trigger on a fresh queue holding n messages.
func overTLS(t *testing.T, n int, clientCerts bool, test func(t *testing.T, ca *scalertest.TestCA, meta map[string]string)) {
	requireManagement(t)
	a := newAdmin(t)
	q := a.queueWithStats("tls")
	a.publish(q, n)
	ca := scalertest.NewTestCA(t)
	for _, p := range []struct{ name, scheme, upstream string }{
		{"AMQP", "amqps", amqpAddr},
		{"management API", "https", mgmtAddr},
	} {
		t.Run(p.name, func(t *testing.T) {
			host := p.scheme + "://guest:guest@" + scalertest.TLSProxy(t, ca, clientCerts, p.upstream) + "/"
			test(t, ca, map[string]string{"host": host, "queueName": q, "value": "1", "timeout": "5s"})
		})
	}
}

func TestTLSToTheBrokerOverBothProtocols(t *testing.T) {
	overTLS(t, 4, false, func(t *testing.T, ca *scalertest.TestCA, meta map[string]string) {
		t.Run("reads with the broker's CA from the TriggerAuthentication", func(t *testing.T) {
			sc := scalertest.NewScaler(t, NewType(), trigger(meta, map[string]string{"tls": "enable", "ca": ca.CAPEM}))
			eventuallyReads(t, sc, 4)
		})
		t.Run("reads with unsafeSsl and no CA", func(t *testing.T) {
			sc := scalertest.NewScaler(t, NewType(), trigger(scalertest.With(meta, "unsafeSsl", "true"), nil))
			eventuallyReads(t, sc, 4)
		})
		t.Run("a certificate from an unknown authority is an error", func(t *testing.T) {
			sc := scalertest.NewScaler(t, NewType(), trigger(meta, nil))
			_, err := scalertest.Read(sc)
			if err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("Read = %v, want an error about the certificate", err)
			}
		})
	})
}

func TestMutualTLSToTheBrokerWithAClientCertificate(t *testing.T) {
	overTLS(t, 2, true, func(t *testing.T, ca *scalertest.TestCA, meta map[string]string) {
		t.Run("reads with the certificate and its encrypted key", func(t *testing.T) {
			auth := map[string]string{"tls": "enable", "ca": ca.CAPEM, "cert": ca.ClientCertPEM, "key": ca.EncryptedKeyPEM, "keyPassword": ca.KeyPassword}
			eventuallyReads(t, scalertest.NewScaler(t, NewType(), trigger(meta, auth)), 2)
		})
		t.Run("is refused without a client certificate, and the error shows no key", func(t *testing.T) {
			sc := scalertest.NewScaler(t, NewType(), trigger(meta, map[string]string{"tls": "enable", "ca": ca.CAPEM}))
			_, err := scalertest.Read(sc)
			if err == nil {
				t.Fatal("Read without a client certificate succeeded")
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), ca.KeyPassword) {
				t.Errorf("error text shows key material: %v", err)
			}
		})
	})
}

func TestUnsafeSslWithAPlainHostIsLetThrough(t *testing.T) {
	// KEDA's own example sets unsafeSsl: true with an amqp:// host.
	tr := trigger(map[string]string{"host": "amqp://h:5672/", "queueName": "q", "value": "1", "unsafeSsl": "true"}, nil)
	if err := NewType().Validate(tr); err != nil {
		t.Errorf("Validate = %v, want unsafeSsl with an amqp:// host accepted (it has no TLS to apply to)", err)
	}
}

func TestTheTLSKeysAreCheckedAgainstTheHost(t *testing.T) {
	ca := scalertest.NewTestCA(t)
	typ := NewType()
	for _, tc := range []struct {
		name, host, key string
		meta, auth      map[string]string
	}{
		{"tls: enable with an amqp:// host", "amqp://h:5672/", "tls", nil, map[string]string{"tls": "enable"}},
		{"tls: disable with an https:// host", "https://h:15671/", "tls", nil, map[string]string{"tls": "disable"}},
		{"a CA with an http:// host", "http://h:15672/", "ca", nil, map[string]string{"ca": ca.CAPEM}},
		{"a CA that is not PEM", "amqps://h:5671/", "ca", nil, map[string]string{"ca": "not a certificate"}},
		{"a key without a certificate", "https://h:15671/", "cert", nil, map[string]string{"key": ca.ClientKeyPEM}},
		{"an encrypted key without its keyPassword", "amqps://h:5671/", "keyPassword", nil, map[string]string{"cert": ca.ClientCertPEM, "key": ca.EncryptedKeyPEM}},
		{"a CA in metadata", "amqps://h:5671/", "ca", map[string]string{"ca": ca.CAPEM}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := map[string]string{"host": tc.host, "queueName": "q", "value": "1"}
			for k, v := range tc.meta {
				meta[k] = v
			}
			err := typ.Validate(trigger(meta, tc.auth))
			if err == nil || !strings.Contains(err.Error(), `"`+tc.key+`"`) {
				t.Fatalf("Validate = %v, want an error naming %q", err, tc.key)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("the error shows key material: %v", err)
			}
		})
	}
}
