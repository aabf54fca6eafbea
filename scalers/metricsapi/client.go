// SPDX-License-Identifier: Apache-2.0

package metricsapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// clientKey identifies a pooled *http.Client: its TLS settings. Clients are
// shared by every trigger with the same TLS keys, whatever the URL; the
// transport keeps connections per host. It is never logged.
type clientKey struct {
	ca, cert, key, keyPassword string
	unsafeSSL                  bool
}

func keyOf(cfg Config) clientKey {
	return clientKey{ca: cfg.CA, cert: cfg.Cert, key: cfg.Key, keyPassword: cfg.KeyPassword, unsafeSSL: cfg.UnsafeSSL}
}

// clientTLS is the TLS configuration of a trigger's client.
func clientTLS(cfg Config) (*tls.Config, error) {
	tc, err := scalers.ClientTLS(scalers.TLSKeys{CA: cfg.CA, Cert: cfg.Cert, Key: cfg.Key, KeyPassword: cfg.KeyPassword})
	if err != nil {
		return nil, err
	}
	// The user asked for it with unsafeSsl: "true".
	tc.InsecureSkipVerify = cfg.UnsafeSSL //nolint:gosec
	return tc, nil
}

func newClient(egress *scalers.Egress, key clientKey) (*http.Client, error) {
	tc, err := clientTLS(Config{CA: key.ca, Cert: key.cert, Key: key.key, KeyPassword: key.keyPassword, UnsafeSSL: key.unsafeSSL})
	if err != nil {
		return nil, err
	}
	tr := scalers.NewTransport(egress, 8, nil)
	tr.MaxIdleConns = 64
	tr.TLSClientConfig = tc
	// The context bounds each request; redirects stay on the URL's scheme
	// and host (scalers.CheckRedirect), so credentials go nowhere else.
	return scalers.NewHTTPClient(tr), nil
}

// request is one GET of a trigger's URL with its credentials.
type request struct {
	url      string
	accept   string
	modes    map[string]bool
	method   string // apiKey: header or query
	keyParam string
	apiKey   string
	username string
	password string
	token    string
}

// accepts is the Accept header of each format.
var accepts = map[string]string{
	formatJSON:       "application/json",
	formatYAML:       "application/yaml, text/yaml;q=0.9, */*;q=0.1",
	formatXML:        "application/xml, text/xml;q=0.9, */*;q=0.1",
	formatPrometheus: "text/plain;version=0.0.4;q=1, */*;q=0.1",
}

// get GETs the URL and returns the body of a 2xx answer, at most maxBody
// bytes. Its errors hold neither the URL's query nor a byte of the answer.
func get(ctx context.Context, client *http.Client, r request) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, errors.New("build the request: the URL is not usable")
	}
	req.Header.Set("Accept", r.accept)
	req.Header.Set("User-Agent", "ebb-metrics-api-scaler")
	if r.modes[authAPIKey] && r.method == "header" {
		req.Header.Set(r.keyParam, r.apiKey)
	}
	switch {
	case r.modes[authBasic]:
		req.SetBasicAuth(r.username, r.password)
	case r.modes[authBearer]:
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, &transportError{err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("answered HTTP %d %s, expected 2xx", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	body, err := scalers.ReadLimited(resp.Body, maxBody)
	if errors.Is(err, scalers.ErrReplyTooLarge) {
		return nil, fmt.Errorf("the answer is larger than %d MiB: %w", maxBody>>20, err)
	}
	if err != nil {
		return nil, &transportError{err: fmt.Errorf("read the answer: %w", unwrapURLError(err))}
	}
	return body, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return scalers.TransportWords(ue.Err)
	}
	return scalers.TransportWords(err)
}

// transportError is a GET that got no (whole) answer: the connection
// failed. The pooled client is then dropped.
type transportError struct{ err error }

func (e *transportError) Error() string { return "no answer: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// invalidateWithin bounds the wait for a pooled client's replacement.
const invalidateWithin = time.Second
