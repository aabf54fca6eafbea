// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// NewTransport returns an HTTP transport of its own for one pooled client of
// a source's HTTP API, so that closing the client (CloseIdleConnections)
// closes its connections: http.DefaultTransport's settings, at most
// maxIdlePerHost idle connections per host kept for 90 s, and dials under
// the egress policy that time out after 30 s. It uses no proxy: the policy
// checks the destination a tenant named, which a proxy would hide. onDial,
// when not nil, runs after each connection it opens (tests and benchmarks
// count them).
func NewTransport(egress *Egress, maxIdlePerHost int, onDial func()) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConnsPerHost = maxIdlePerHost
	tr.IdleConnTimeout = 90 * time.Second
	dial := egress.Dialer(net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil && onDial != nil {
			onDial()
		}
		return c, err
	}
	return tr
}

// MaxRedirects is the number of redirects an HTTP client of a scaler
// follows, all on the first request's scheme and host.
const MaxRedirects = 3

// ErrRedirectRefused is the error of a request whose answer redirected to
// another host or scheme, or one time too many: the scaler does not follow
// a source's server where the operator's policy did not look (a tenant's
// server could send it to the cloud metadata service), nor carry its
// credentials there.
var ErrRedirectRefused = errors.New("redirect refused: a scaler follows at most 3 redirects, all on the same scheme, host and port")

// CheckRedirect is the http.Client.CheckRedirect of every scaler's client:
// see ErrRedirectRefused. Its error does not repeat the Location.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	if len(via) > MaxRedirects {
		return ErrRedirectRefused
	}
	first := via[0].URL
	if !strings.EqualFold(req.URL.Scheme, first.Scheme) || !strings.EqualFold(canonicalHost(req.URL), canonicalHost(first)) {
		return ErrRedirectRefused
	}
	return nil
}

// canonicalHost is u's host and port, with the scheme's default port
// written out.
func canonicalHost(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// NewHTTPClient returns a client on tr that follows redirects by
// CheckRedirect.
func NewHTTPClient(tr http.RoundTripper) *http.Client {
	return &http.Client{Transport: tr, CheckRedirect: CheckRedirect}
}

// StripURL drops the request URL from an HTTP client's transport error (it
// repeats the endpoint and the query, may hold credentials, and after a
// redirect is the server's Location), and words what failed with
// TransportWords. Other errors are returned as they are.
func StripURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), TransportWords(ue.Err))
	}
	return err
}

// TransportWords returns an HTTP client's transport error (the Err of its
// *url.Error) in words that hold no byte the server sent: net/http quotes
// a malformed status line or header ("malformed HTTP status code
// \"...\""), and certificate errors name what the server's certificate
// says. Errors that hold none (a dial, a timeout, the egress policy, a
// refused redirect, a closed connection) are kept as they are. errors.Is
// and errors.As still see err.
func TransportWords(err error) error {
	var (
		op        *net.OpError
		egress    *EgressError
		hostname  x509.HostnameError
		authority x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &egress), errors.Is(err, ErrRedirectRefused),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &hostname), errors.As(err, &authority), errors.As(err, &invalid), errors.As(err, &verify):
		return CertificateWords(err)
	case errors.As(err, &op):
		return err // a dial, read or write: addresses and the system's words
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Reword(err, "the server closed the connection before it answered")
	}
	if s := err.Error(); strings.HasPrefix(s, "net/http: ") && !strings.ContainsAny(s, "\"'") {
		return err // net/http's own words (a timeout awaiting headers, ...)
	}
	return Reword(err, "the server's answer is not valid HTTP")
}

// CertificateWords returns a TLS certificate error in words that hold
// nothing of the certificate (its names and issuers are the server's
// words); other errors are returned as they are.
func CertificateWords(err error) error {
	var (
		hostname  x509.HostnameError
		authority x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &hostname):
		return Reword(err, "the server's TLS certificate is not valid for the name asked for")
	case errors.As(err, &authority):
		return Reword(err, "the server's TLS certificate is signed by an unknown authority")
	case errors.As(err, &invalid):
		return Reword(err, fmt.Sprintf("the server's TLS certificate is invalid (x509 reason %d)", invalid.Reason))
	case errors.As(err, &verify):
		return Reword(err, "the server's TLS certificate could not be verified")
	}
	return err
}
