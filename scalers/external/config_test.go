// SPDX-License-Identifier: Apache-2.0

package external

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

func TestTimeoutForms(t *testing.T) {
	timeoutOf := func(in string) (time.Duration, error) {
		md := map[string]string{"scalerAddress": "h:1"}
		if in != "" {
			md["timeout"] = in
		}
		p, err := parse(trigger("external", md, nil))
		return p.timeout, err
	}
	for in, want := range map[string]time.Duration{
		"": 10 * time.Second, "2000": 2 * time.Second, "1": time.Millisecond, " 250 ": 250 * time.Millisecond,
		"2s": 2 * time.Second, "1m30s": 90 * time.Second, "3600000": time.Hour, "1h": time.Hour,
	} {
		if got, err := timeoutOf(in); err != nil || got != want {
			t.Errorf("timeout %q = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "0s", "-2s", "3600001", "61m", "soon", "2 s", "9223372036854775807", "-9223372036854775808"} {
		if got, err := timeoutOf(in); err == nil {
			t.Errorf("timeout %q = %v, want an error", in, got)
		}
	}
}

func TestParse(t *testing.T) {
	t.Run("the address may come from the container's environment", func(t *testing.T) {
		tr := trigger("external", map[string]string{"scalerAddressFromEnv": "SCALER", "queue": "q"}, nil)
		tr.Env = map[string]string{"SCALER": "scaler.shop.svc:6000"}
		p, err := parse(tr)
		if err != nil || p.conn.addr != "scaler.shop.svc:6000" {
			t.Fatalf("parse = %+v, %v", p, err)
		}
		if p.metadata["scalerAddressFromEnv"] != "scaler.shop.svc:6000" || p.metadata["queue"] != "q" {
			t.Errorf("scalerMetadata = %v", p.metadata)
		}
	})
	t.Run("at admission, an address from the environment is awaited", func(t *testing.T) {
		tr := trigger("external", map[string]string{"scalerAddressFromEnv": "SCALER"}, nil)
		tr.AuthPending = true
		if err := NewTypesOnly().Validate(tr); err != nil {
			t.Fatalf("Validate = %v", err)
		}
	})
	t.Run("TLS turns on with a CA, a client certificate or enableTLS, and unsafeSsl only with TLS", func(t *testing.T) {
		for md, want := range map[string][2]bool{
			"enableTLS=true":                 {true, false},
			"unsafeSsl=true":                 {false, false},
			"enableTLS=true,unsafeSsl=true":  {true, true},
			"enableTLS=false,unsafeSsl=true": {false, false},
		} {
			m := map[string]string{"scalerAddress": "h:1"}
			for _, kv := range strings.Split(md, ",") {
				k, v, _ := strings.Cut(kv, "=")
				m[k] = v
			}
			p, err := parse(trigger("external", m, nil))
			if err != nil || p.conn.tls != want[0] || p.conn.unsafe != want[1] {
				t.Errorf("%s: tls %v unsafe %v (%v), want %v", md, p.conn.tls, p.conn.unsafe, err, want)
			}
		}
	})
	t.Run("KEDA's deprecated tlsCertFile is refused, saying what to do", func(t *testing.T) {
		_, err := parse(trigger("external", map[string]string{"scalerAddress": "h:1", "tlsCertFile": "/certs/c.pem"}, nil))
		if err == nil || !strings.Contains(err.Error(), "TriggerAuthentication") {
			t.Fatalf("parse = %v", err)
		}
	})
	t.Run("an IPv6 address in brackets", func(t *testing.T) {
		if p, err := parse(trigger("external", map[string]string{"scalerAddress": "[::1]:6000"}, nil)); err != nil || p.conn.addr != "[::1]:6000" {
			t.Fatalf("parse = %+v, %v", p, err)
		}
	})
}

// NewTypesOnly is the external Type for tests that need no connection.
func NewTypesOnly() *Type {
	ext, _ := NewTypes()
	return ext
}

// FuzzParse feeds arbitrary values of Ebb's keys, a key of the server's and
// TLS material through parse: it never panics; an error names a key and
// never shows the client key; an accepted trigger has a host:port with a
// port from 1 to 65535, a timeout in (0, 1h], and sends the metadata as
// written.
func FuzzParse(f *testing.F) {
	f.Add("scaler.shop.svc:6000", "", "", "", "queue", "orders", "", "")
	f.Add("127.0.0.1:0", "2000", "true", "true", "timeoutFromEnv", "X", "ca", "")
	f.Add("[::1]:65535", "1h", "false", "", "caCert", "x", "", "key")
	f.Add("h", "-1", "yes", "1", "tlsCertFile", "/a", "", "")
	const key = "-----BEGIN PRIVATE KEY-----\nZnV6ei1zZWNyZXQ=\n-----END PRIVATE KEY-----\n"
	f.Fuzz(func(t *testing.T, addr, timeout, enableTLS, unsafeSsl, extraKey, extraValue, ca, withKey string) {
		md := map[string]string{}
		for k, v := range map[string]string{"scalerAddress": addr, "timeout": timeout, "enableTLS": enableTLS, "unsafeSsl": unsafeSsl} {
			if v != "" {
				md[k] = v
			}
		}
		if extraKey != "" {
			md[extraKey] = extraValue
		}
		auth := map[string]string{}
		if ca != "" {
			auth["caCert"] = ca
		}
		if withKey != "" {
			auth["tlsClientKey"] = key
		}
		p, err := parse(trigger("external", md, auth))
		if err != nil {
			if strings.Contains(err.Error(), "ZnV6ei1zZWNyZXQ") {
				t.Fatalf("the error shows the client key: %v", err)
			}
			var fe *scalers.FieldError
			if !errors.As(err, &fe) || fe.Key == "" {
				t.Fatalf("the error names no key: %v", err)
			}
			return
		}
		_, port, err := net.SplitHostPort(p.conn.addr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
			t.Fatalf("accepted address %q", p.conn.addr)
		}
		if p.timeout <= 0 || p.timeout > time.Hour {
			t.Fatalf("accepted timeout %v", p.timeout)
		}
		for k, v := range md {
			if !strings.HasSuffix(k, "FromEnv") && p.metadata[k] != v {
				t.Fatalf("scalerMetadata[%q] = %q, want %q", k, p.metadata[k], v)
			}
		}
	})
}
