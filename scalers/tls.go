// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
)

// TLSKeys are the PEM values of a trigger's TLS keys ca, cert, key and
// keyPassword, as a TriggerAuthentication gives them.
type TLSKeys struct {
	CA          string // certificates to trust instead of the system's
	Cert        string // the client certificate, with Key
	Key         string // the client certificate's private key
	KeyPassword string // decrypts Key when it has the legacy PEM encryption
}

// ClientTLS builds a TLS client configuration (TLS 1.2 or later) from k: the
// root certificates from CA and the client certificate from Cert and Key,
// when they are set. The caller sets ServerName and InsecureSkipVerify. Its
// errors are KeyErrors naming ca, cert, key or keyPassword that never show a
// key or a password. It does no I/O.
func ClientTLS(k TLSKeys) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if k.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(k.CA)) {
			return nil, KeyError("ca", "expected PEM certificates, found none")
		}
		cfg.RootCAs = pool
	}
	switch {
	case k.Cert == "" && k.Key == "":
		if k.KeyPassword != "" {
			return nil, KeyError("keyPassword", "is set without cert and key")
		}
	case k.Cert == "":
		return nil, KeyError("cert", "is required with key")
	case k.Key == "":
		return nil, KeyError("key", "is required with cert")
	default:
		keyPEM, err := clearKey([]byte(k.Key), k.KeyPassword)
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair([]byte(k.Cert), keyPEM)
		if err != nil {
			return nil, KeyError("cert", "and key do not form a valid certificate and private key pair (PEM expected)")
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// ClientTLSFor is ClientTLS for a server named serverName (empty: the name
// the connection dials, as net/http fills it) that, with skipVerify (a
// trigger's unsafeSsl), is not checked at all.
func ClientTLSFor(k TLSKeys, serverName string, skipVerify bool) (*tls.Config, error) {
	cfg, err := ClientTLS(k)
	if err != nil {
		return nil, err
	}
	cfg.ServerName = serverName
	cfg.InsecureSkipVerify = skipVerify //nolint:gosec // skipVerify is the user's explicit choice (unsafeSsl)
	return cfg, nil
}

// clearKey returns a PEM private key in the clear; one encrypted with the
// legacy PEM encryption (Proc-Type: 4,ENCRYPTED), which Kafka tooling still
// produces, needs keyPassword.
func clearKey(keyPEM []byte, password string) ([]byte, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, KeyError("key", "expected a PEM private key")
	}
	//nolint:staticcheck // the legacy PEM encryption is what keyPassword is for.
	if !x509.IsEncryptedPEMBlock(block) {
		if password != "" {
			return nil, KeyError("keyPassword", "is set but the key is not encrypted")
		}
		return keyPEM, nil
	}
	if password == "" {
		return nil, KeyError("keyPassword", "is required: the key is encrypted")
	}
	//nolint:staticcheck // see above.
	der, err := x509.DecryptPEMBlock(block, []byte(password))
	// A wrong password leaves valid padding about once in 256 tries, and
	// DecryptPEMBlock then returns garbage without an error: what does not
	// parse as a private key was not decrypted either.
	if err != nil || !isPrivateKey(der) {
		return nil, KeyError("keyPassword", "does not decrypt the key")
	}
	return pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der}), nil
}

// isPrivateKey says whether der is a private key in one of the encodings a
// PEM key block holds: PKCS #1, PKCS #8 or SEC 1.
func isPrivateKey(der []byte) bool {
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(der)
	return err == nil
}
