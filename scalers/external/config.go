// SPDX-License-Identifier: Apache-2.0

package external

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// Config is the part of an external or external-push trigger's metadata that
// Ebb reads itself. The keys are KEDA's, plus timeout. Every metadata key,
// these included, also goes to the server in ScaledObjectRef.scalerMetadata,
// as in KEDA: keys Ebb does not know are the server's, not typos.
type Config struct {
	// ScalerAddress is the server's host:port.
	ScalerAddress string `meta:"scalerAddress,endpoint=hostport:443"`
	// EnableTLS connects over TLS, trusting the system's roots (or CACert).
	// A CA or a client certificate turns TLS on by itself.
	EnableTLS bool `meta:"enableTLS,default=false"`
	// UnsafeSsl skips the verification of the server's certificate (TLS
	// only; without TLS it does nothing, as in KEDA).
	UnsafeSsl bool `meta:"unsafeSsl,default=false"`
	// CACert is the PEM of the CAs to trust instead of the system's roots;
	// TriggerAuthentication only.
	CACert string `meta:"caCert,optional,from=auth"`
	// TLSClientCert and TLSClientKey are the PEM of a client certificate
	// and its key (mutual TLS); TriggerAuthentication only.
	TLSClientCert string `meta:"tlsClientCert,optional,from=auth"`
	TLSClientKey  string `meta:"tlsClientKey,optional,from=auth,secret"`
	// TLSCertFile is KEDA's deprecated path of a certificate file on the
	// operator's disk: refused (Ebb reads no operator file for a tenant).
	TLSCertFile string `meta:"tlsCertFile,optional"`
	// Timeout bounds each call to the server: a Go duration ("2s") or a
	// number of milliseconds ("2000"); above 0, at most 1h.
	Timeout time.Duration `meta:"timeout,default=10s,ms"`
}

const defaultTimeout = 10 * time.Second

// authOnly are the keys a TriggerAuthentication alone may give.
var authOnly = []string{"caCert", "tlsClientCert", "tlsClientKey"}

// plan is a checked trigger: where to connect, how, and what to send.
type plan struct {
	conn    connKey
	timeout time.Duration
	// metadata is what the server gets as scalerMetadata.
	metadata map[string]string
}

// parse reads a trigger's metadata: Ebb's keys through the shared parser,
// every key (Ebb's too) into the scalerMetadata the server gets.
func parse(tr scalers.Trigger) (plan, error) {
	for _, k := range authOnly {
		for _, mk := range []string{k, k + "FromEnv"} {
			if _, ok := tr.Metadata[mk]; ok {
				return plan{}, &scalers.FieldError{Trigger: tr.String(), Key: k,
					Msg: "may only come from a TriggerAuthentication (as PEM), not from metadata or " + k + "FromEnv"}
			}
		}
	}
	own := tr
	own.Metadata = ownKeys(tr.Metadata)
	var c Config
	if err := scalers.ParseMetadata(own, &c); err != nil {
		return plan{}, err
	}
	p, err := c.resolve(scalers.Deferred(own))
	if err != nil {
		return plan{}, scalers.TriggerError(tr, err)
	}
	p.metadata = serverMetadata(tr.Metadata, tr.Env)
	return p, nil
}

// ownKeys is the part of md that Config reads: its keys and their
// <key>FromEnv forms.
func ownKeys(md map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range md {
		if configKeys[strings.TrimSuffix(k, "FromEnv")] {
			out[k] = v
		}
	}
	return out
}

// configKeys are Config's metadata keys.
var configKeys = func() map[string]bool {
	keys, err := scalers.Keys(&Config{})
	if err != nil {
		panic(err) // Config's tags are fixed; TestConformance checks them
	}
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k.Key] = true
	}
	return m
}()

// serverMetadata is the scalerMetadata a server gets, KEDA's way: every key
// of the trigger's metadata as written, except that a <key>FromEnv key
// carries the value of the container variable it names (and is left out
// when that variable is unset or empty).
func serverMetadata(md, env map[string]string) map[string]string {
	out := make(map[string]string, len(md))
	for k, v := range md {
		if strings.HasSuffix(k, "FromEnv") {
			if ev := env[v]; ev != "" {
				out[k] = ev
			}
			continue
		}
		out[k] = v
	}
	return out
}

// resolve checks the rules across keys. It is pure; deferred says which
// keys are still to come (at admission).
func (c *Config) resolve(deferred func(string) bool) (plan, error) {
	var p plan
	if c.TLSCertFile != "" {
		return p, scalers.KeyError("tlsCertFile", "names a file on the operator's disk, which Ebb never reads for a trigger; give the certificate's PEM as tlsClientCert (and its key as tlsClientKey) in a TriggerAuthentication")
	}
	if c.ScalerAddress == "" && !deferred("scalerAddress") {
		return p, scalers.KeyError("scalerAddress", "is empty; expected the server's host:port")
	}
	if c.ScalerAddress != "" {
		if err := checkAddress(c.ScalerAddress); err != nil {
			return p, scalers.KeyError("scalerAddress", "expected a host:port such as scaler.shop.svc:6000, found %q", c.ScalerAddress)
		}
	}
	timeout := c.Timeout
	if timeout <= 0 || timeout > time.Hour {
		return p, scalers.KeyError("timeout", "expected a duration above 0 and at most 1h, found %s", timeout)
	}
	useTLS := c.EnableTLS || c.CACert != "" || c.TLSClientCert != "" || c.TLSClientKey != ""
	if useTLS {
		if _, err := scalers.ClientTLS(scalers.TLSKeys{CA: c.CACert, Cert: c.TLSClientCert, Key: c.TLSClientKey}); err != nil {
			return p, renameTLSKey(err)
		}
	}
	p.timeout = timeout
	p.conn = connKey{addr: strings.TrimSpace(c.ScalerAddress), tls: useTLS, unsafe: c.UnsafeSsl && useTLS,
		ca: c.CACert, cert: c.TLSClientCert, key: c.TLSClientKey}
	return p, nil
}

// checkAddress accepts host:port with a port from 1 to 65535 and a host
// name or IP address (brackets around IPv6).
func checkAddress(s string) error {
	host, port, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return errors.New("bad port")
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if host == "" || len(host) > 253 {
		return errors.New("bad host")
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return errors.New("bad host")
		}
	}
	return nil
}

// renameTLSKey turns scalers.ClientTLS's key names (ca, cert, key) into
// this trigger's.
func renameTLSKey(err error) error {
	var fe *scalers.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	out := *fe
	out.Key = map[string]string{"ca": "caCert", "cert": "tlsClientCert", "key": "tlsClientKey"}[fe.Key]
	if out.Key == "" {
		out.Key = fe.Key
	}
	out.Msg = strings.NewReplacer("with cert", "with tlsClientCert", "with key", "with tlsClientKey",
		"and key do not", "and tlsClientKey do not").Replace(fe.Msg)
	return &out
}
