// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/transport"
	"k8s.io/metrics/pkg/apis/external_metrics"
	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
)

// DelegateOptions say where the adapter sends the reads of external metrics
// that no ScaledObject serves: the adapter that served the APIService before
// Ebb (KEDA's metrics server, say), so that both serve one cluster.
type DelegateOptions struct {
	// Address is the other adapter's host:port, in a cluster its Service:
	// <name>.<namespace>.svc:<port>.
	Address string
	// ServerName is the name its serving certificate is checked against;
	// empty: the host of Address. The aggregator checks <name>.<namespace>.svc.
	ServerName string
	// CAFile holds the PEM CA bundle that verifies the other adapter's
	// certificate: the caBundle of the APIService that pointed at it.
	CAFile string
	// InsecureSkipTLSVerify does not verify the other adapter's certificate
	// (as its APIService said, when it had no caBundle).
	InsecureSkipTLSVerify bool
	// ClientCertFile and ClientKeyFile are a client certificate signed by
	// the API server's front-proxy CA (--requestheader-client-ca-file) with
	// a name in --requestheader-allowed-names, as the aggregator's own
	// (--proxy-client-cert-file). With it the caller's identity goes to the
	// other adapter in the front-proxy headers, as the aggregator sends it,
	// and the other adapter authorizes the original caller. Reloaded when
	// the files change.
	ClientCertFile, ClientKeyFile string
	// BearerToken and BearerTokenFile (reread when it changes) are used
	// without a client certificate: the other adapter then sees the
	// operator, not the caller (whom Ebb's adapter has authorized for the
	// same read).
	BearerToken, BearerTokenFile string
	// Timeout bounds one read from the other adapter; zero:
	// DefaultDelegateTimeout.
	Timeout time.Duration
	// DiscoveryInterval is how often the other adapter's metric list is
	// read for discovery; zero: DefaultDelegateDiscoveryInterval.
	DiscoveryInterval time.Duration
	// Log is the delegate's logger.
	Log logr.Logger
}

// Defaults of DelegateOptions.
const (
	DefaultDelegateTimeout           = 10 * time.Second
	DefaultDelegateDiscoveryInterval = 30 * time.Second
)

// Bounds on what is read from the other adapter.
const (
	maxDelegateAnswer   = 4 << 20  // a metric value list
	maxDelegateError    = 64 << 10 // a Status
	maxDelegateNames    = 10000    // names in its discovery list
	maxDelegateMessage  = 1024     // bytes of its error message passed back
	maxDelegateReason   = 64       // bytes of its error reason
	maxDelegateNameSize = 253      // bytes of one metric name it lists
)

// discoveryUser is who asks the other adapter for its metric list, with a
// front-proxy client certificate: an authenticated user, whom the
// system:discovery ClusterRole lets read /apis.
const discoveryUser = "system:ebb-operator:metrics-delegate"

// Delegate reads external metrics from another adapter, over TLS, as the
// aggregator would, with the caller's identity when it holds a front-proxy
// client certificate. It is a controller-runtime Runnable that keeps the
// other adapter's metric list for discovery; it runs on every replica.
type Delegate struct {
	base      *url.URL
	client    *http.Client
	identity  bool // the caller's identity goes in the front-proxy headers
	timeout   time.Duration
	interval  time.Duration
	names     atomic.Pointer[[]string]
	log       logr.Logger
	transport *http.Transport
}

// NewDelegate checks o and returns a Delegate.
func NewDelegate(o DelegateOptions) (*Delegate, error) {
	if o.Address == "" {
		return nil, errors.New("metrics adapter delegate: no address")
	}
	host, port, err := net.SplitHostPort(o.Address)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("metrics adapter delegate: address %q is not host:port", o.Address)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = host
	}
	switch {
	case o.InsecureSkipTLSVerify && o.CAFile != "":
		return nil, errors.New("metrics adapter delegate: a CA file and insecureSkipTLSVerify exclude each other")
	case o.InsecureSkipTLSVerify:
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // the APIService Ebb replaced said so; the operator's flag, not a tenant's
	case o.CAFile != "":
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("metrics adapter delegate CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("metrics adapter delegate CA: %s holds no PEM certificate", o.CAFile)
		}
		tlsCfg.RootCAs = pool
	default:
		return nil, errors.New("metrics adapter delegate: give the CA that verifies the other adapter (the caBundle of its APIService) or insecureSkipTLSVerify")
	}
	d := &Delegate{
		base:     &url.URL{Scheme: "https", Host: o.Address},
		timeout:  o.Timeout,
		interval: o.DiscoveryInterval,
		log:      o.Log,
	}
	if d.timeout <= 0 {
		d.timeout = DefaultDelegateTimeout
	}
	if d.interval <= 0 {
		d.interval = DefaultDelegateDiscoveryInterval
	}
	var rt http.RoundTripper
	switch {
	case (o.ClientCertFile == "") != (o.ClientKeyFile == ""):
		return nil, errors.New("metrics adapter delegate: a client certificate needs both its certificate and its key")
	case o.ClientCertFile != "":
		kp := &keyPairFiles{cert: o.ClientCertFile, key: o.ClientKeyFile}
		if _, err := kp.get(); err != nil {
			return nil, fmt.Errorf("metrics adapter delegate client certificate: %w", err)
		}
		tlsCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
		d.identity = true
	}
	d.transport = &http.Transport{
		TLSClientConfig:       tlsCfg,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: d.timeout,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	rt = d.transport
	if !d.identity {
		if o.BearerToken == "" && o.BearerTokenFile == "" {
			return nil, errors.New("metrics adapter delegate: no client certificate and no token to authenticate to the other adapter with")
		}
		if rt, err = transport.NewBearerAuthWithRefreshRoundTripper(o.BearerToken, o.BearerTokenFile, rt); err != nil {
			return nil, fmt.Errorf("metrics adapter delegate token: %w", err)
		}
	}
	d.client = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	d.names.Store(&[]string{})
	return d, nil
}

// ForwardsIdentity says whether the caller's identity reaches the other
// adapter (a front-proxy client certificate is used).
func (d *Delegate) ForwardsIdentity() bool { return d.identity }

// GetExternalMetric reads one metric from the other adapter for the caller
// in ctx. Its answer is returned as it gave it; its error as an API error
// with its status code and its reason and message, bounded. Not reaching it
// in time is ServiceUnavailable.
func (d *Delegate) GetExternalMetric(ctx context.Context, namespace string, selector labels.Selector, metric string) (*external_metrics.ExternalMetricValueList, error) {
	u := *d.base
	u.Path = "/apis/" + external_metrics.GroupName + "/v1beta1/namespaces/" + namespace + "/" + metric
	u.RawPath = "/apis/" + external_metrics.GroupName + "/v1beta1/namespaces/" + url.PathEscape(namespace) + "/" + url.PathEscape(metric)
	if selector != nil && !selector.Empty() {
		u.RawQuery = url.Values{"labelSelector": {selector.String()}}.Encode()
	}
	what := fmt.Sprintf("external metric %q in namespace %q", metric, namespace)
	body, err := d.do(ctx, u.String(), maxDelegateAnswer, metric, what)
	if err != nil {
		return nil, err
	}
	var in v1beta1.ExternalMetricValueList
	if err := json.Unmarshal(body, &in); err != nil {
		d.log.V(1).Info("The delegated metrics adapter's answer is not an external metric value list", "metric", metric, "namespace", namespace)
		return nil, apierrors.NewInternalError(errors.New(what + ": the answer of the metrics adapter Ebb delegates to is not an external metric value list"))
	}
	out := &external_metrics.ExternalMetricValueList{Items: make([]external_metrics.ExternalMetricValue, 0, len(in.Items))}
	for _, it := range in.Items {
		out.Items = append(out.Items, external_metrics.ExternalMetricValue{
			MetricName:    it.MetricName,
			MetricLabels:  it.MetricLabels,
			Timestamp:     it.Timestamp,
			WindowSeconds: it.WindowSeconds,
			Value:         it.Value,
		})
	}
	return out, nil
}

// do GETs target as the caller in ctx and returns the body of a 2xx answer
// (at most limit bytes), or the API error that stands for the failure.
func (d *Delegate) do(ctx context.Context, target string, limit int64, metric, what string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("%s: %w", what, err))
	}
	req.Header.Set("Accept", "application/json")
	if d.identity {
		u, ok := request.UserFrom(ctx)
		if !ok {
			return nil, apierrors.NewInternalError(errors.New(what + ": the caller's identity is unknown, so the read cannot be delegated"))
		}
		transport.SetAuthProxyHeaders(req, u.GetName(), u.GetUID(), u.GetGroups(), u.GetExtra())
	}
	res, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("%s: the metrics adapter Ebb delegates to (%s) did not answer within %s", what, d.base.Host, d.timeout))
		}
		d.log.V(1).Info("The delegated metrics adapter cannot be reached", "address", d.base.Host, "error", err.Error())
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("%s: the metrics adapter Ebb delegates to (%s) cannot be reached", what, d.base.Host))
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, d.foreignError(res, metric, what)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("%s: the metrics adapter Ebb delegates to (%s) did not answer within %s", what, d.base.Host, d.timeout))
	case err != nil:
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("%s: the answer of the metrics adapter Ebb delegates to (%s) broke off", what, d.base.Host))
	case int64(len(body)) > limit:
		return nil, apierrors.NewInternalError(fmt.Errorf("%s: the answer of the metrics adapter Ebb delegates to is larger than %d bytes", what, limit))
	}
	return body, nil
}

// foreignError is the other adapter's error as an API error: its status
// code, and the reason and message of its Status, checked and cut to size.
// Without a Status, the code alone.
func (d *Delegate) foreignError(res *http.Response, metric, what string) error {
	raw, _ := io.ReadAll(io.LimitReader(res.Body, maxDelegateError))
	var st metav1.Status
	code := int32(res.StatusCode)
	if json.Unmarshal(raw, &st) != nil || st.Kind != "Status" {
		st = metav1.Status{}
	}
	reason := metav1.StatusReason(cleanText(string(st.Reason), maxDelegateReason, true))
	msg := cleanText(st.Message, maxDelegateMessage, false)
	d.log.V(1).Info("The delegated metrics adapter answered an error", "metric", metric, "code", code, "reason", string(reason))
	if reason == "" || msg == "" {
		gen := apierrors.NewGenericServerResponse(int(code), http.MethodGet, schema.GroupResource{Group: external_metrics.GroupName, Resource: metric}, "", "", 0, true)
		if reason == "" {
			reason = gen.ErrStatus.Reason
		}
		if msg == "" {
			msg = what + ": the metrics adapter Ebb delegates to answered " + http.StatusText(int(code))
		}
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    code,
		Reason:  reason,
		Message: msg,
		Details: &metav1.StatusDetails{Group: external_metrics.GroupName},
	}}
}

// cleanText keeps valid, printable text of at most max bytes, cut at a rune
// boundary (with "…" when cut); a reason keeps letters only.
func cleanText(s string, max int, reason bool) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError {
			continue
		}
		if reason && !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			return ""
		}
		if !unicode.IsPrint(r) {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > max {
			if reason {
				return ""
			}
			out := b.String()
			for len(out)+len("…") > max {
				_, n := utf8.DecodeLastRuneInString(out)
				out = out[:len(out)-n]
			}
			return out + "…"
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ListExternalMetrics is the other adapter's metric list as last read, sorted.
func (d *Delegate) ListExternalMetrics() []string { return *d.names.Load() }

// Start reads the other adapter's metric list now and then every
// DiscoveryInterval until ctx ends.
func (d *Delegate) Start(ctx context.Context) error {
	defer d.transport.CloseIdleConnections()
	failing := false
	for {
		err := d.refresh(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			d.log.Info("Cannot read the delegated metrics adapter's metric list; discovery keeps the last one", "address", d.base.Host, "error", err.Error())
		case err == nil && failing:
			d.log.Info("Read the delegated metrics adapter's metric list again", "address", d.base.Host)
		}
		failing = err != nil
		t := time.NewTimer(d.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection is false: every replica serves the adapter.
func (d *Delegate) NeedLeaderElection() bool { return false }

// refresh reads the other adapter's discovery document.
func (d *Delegate) refresh(ctx context.Context) error {
	u := *d.base
	u.Path = "/apis/" + external_metrics.GroupName + "/v1beta1"
	if d.identity {
		ctx = request.WithUser(ctx, &user.DefaultInfo{Name: discoveryUser, Groups: []string{user.AllAuthenticated}})
	}
	body, err := d.do(ctx, u.String(), maxDelegateAnswer, "", "the external metric list")
	if err != nil {
		return err
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(body, &list); err != nil {
		return errors.New("its answer is not an APIResourceList")
	}
	names := make([]string, 0, min(len(list.APIResources), maxDelegateNames))
	for _, r := range list.APIResources {
		if len(names) == maxDelegateNames {
			break
		}
		if r.Name == "" || len(r.Name) > maxDelegateNameSize || strings.ContainsAny(r.Name, "/%") || cleanText(r.Name, maxDelegateNameSize, false) != r.Name {
			continue
		}
		names = append(names, r.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	d.names.Store(&names)
	return nil
}

// keyPairFiles is a client certificate read from files, read again when
// either file's modification time changes.
type keyPairFiles struct {
	cert, key string

	mu       sync.Mutex
	pair     *tls.Certificate
	modCert  time.Time
	modKey   time.Time
	lastRead time.Time
}

// keyPairCheckInterval is how often the files are checked for a change.
const keyPairCheckInterval = 10 * time.Second

func (k *keyPairFiles) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	if k.pair != nil && now.Sub(k.lastRead) < keyPairCheckInterval {
		return k.pair, nil
	}
	ci, err1 := os.Stat(k.cert)
	ki, err2 := os.Stat(k.key)
	if err := errors.Join(err1, err2); err != nil {
		if k.pair != nil {
			return k.pair, nil // keep the last good one while files are replaced
		}
		return nil, err
	}
	k.lastRead = now
	if k.pair != nil && ci.ModTime().Equal(k.modCert) && ki.ModTime().Equal(k.modKey) {
		return k.pair, nil
	}
	certPEM, err1 := os.ReadFile(k.cert)
	keyPEM, err2 := os.ReadFile(k.key)
	if err := errors.Join(err1, err2); err != nil {
		if k.pair != nil {
			return k.pair, nil
		}
		return nil, err
	}
	pair, err := tls.X509KeyPair(bytes.TrimSpace(certPEM), bytes.TrimSpace(keyPEM))
	if err != nil {
		if k.pair != nil {
			return k.pair, nil
		}
		return nil, err
	}
	k.pair, k.modCert, k.modKey = &pair, ci.ModTime(), ki.ModTime()
	return k.pair, nil
}
