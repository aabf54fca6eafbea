// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"strings"
	"testing"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// The loopback Redis speaks plain TCP; these tests put a TLS-terminating
// proxy in front of it, with a throwaway certificate authority.

func TestTLSToTheServer(t *testing.T) {
	a := newAdmin(t)
	ca := scalertest.NewTestCA(t)
	addr := scalertest.TLSProxy(t, ca, false, redisAddr)
	list := a.list(6)
	lists, _, _ := testTypes(t)
	meta := map[string]string{"address": addr, "listName": list}

	t.Run("reads when the server's CA is given", func(t *testing.T) {
		expect(t, scalertest.MustRead(t, newScaler(t, lists, listTrigger(meta, map[string]string{"tls": "enable", "ca": ca.CAPEM}))), 6, true)
	})
	t.Run("reads with enableTLS and unsafeSsl, as KEDA's keys say", func(t *testing.T) {
		expect(t, scalertest.MustRead(t, newScaler(t, lists, listTrigger(scalertest.With(meta, "enableTLS", "true", "unsafeSsl", "true"), nil))), 6, true)
	})
	t.Run("a certificate from an unknown authority is an error", func(t *testing.T) {
		err := readErr(t, newScaler(t, lists, listTrigger(scalertest.With(meta, "enableTLS", "true", "timeout", "5s"), nil)))
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error %q does not say the certificate failed to verify", err)
		}
	})
	t.Run("a plaintext client on the TLS port is an error within its timeout", func(t *testing.T) {
		readErr(t, newScaler(t, lists, listTrigger(scalertest.With(meta, "timeout", "2s"), nil)))
	})
}

func TestMutualTLSWithAClientCertificate(t *testing.T) {
	a := newAdmin(t)
	ca := scalertest.NewTestCA(t)
	addr := scalertest.TLSProxy(t, ca, true, redisAddr)
	stream := a.stream(3)
	_, streams, _ := testTypes(t)
	meta := map[string]string{"address": addr, "stream": stream, "streamLength": "1"}

	t.Run("reads with the certificate and its key", func(t *testing.T) {
		auth := map[string]string{"tls": "enable", "ca": ca.CAPEM, "cert": ca.ClientCertPEM, "key": ca.ClientKeyPEM}
		expect(t, scalertest.MustRead(t, newScaler(t, streams, streamTrigger(meta, auth))), 3, true)
	})
	t.Run("reads with an encrypted key and its keyPassword", func(t *testing.T) {
		auth := map[string]string{"tls": "enable", "ca": ca.CAPEM, "cert": ca.ClientCertPEM, "key": ca.EncryptedKeyPEM, "keyPassword": ca.KeyPassword}
		expect(t, scalertest.MustRead(t, newScaler(t, streams, streamTrigger(meta, auth))), 3, true)
	})
	t.Run("an encrypted key without its keyPassword is refused at admission", func(t *testing.T) {
		auth := map[string]string{"tls": "enable", "ca": ca.CAPEM, "cert": ca.ClientCertPEM, "key": ca.EncryptedKeyPEM}
		err := streams.Validate(streamTrigger(meta, auth))
		if err == nil || !strings.Contains(err.Error(), `"keyPassword"`) {
			t.Errorf("Validate = %v, want an error naming keyPassword", err)
		}
	})
	t.Run("is refused without a client certificate, and the error shows no key", func(t *testing.T) {
		err := readErr(t, newScaler(t, streams, streamTrigger(scalertest.With(meta, "timeout", "5s"), map[string]string{"tls": "enable", "ca": ca.CAPEM})))
		if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), ca.KeyPassword) {
			t.Errorf("error text shows key material: %v", err)
		}
	})
}
