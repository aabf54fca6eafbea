// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"
)

// otherAdapter is an HTTPS server standing for the adapter Ebb delegates to:
// it records what it is sent and answers with handle.
type otherAdapter struct {
	srv    *httptest.Server
	caFile string

	mu       sync.Mutex
	requests []*http.Request
	certs    int // requests that came with a client certificate
	handle   http.HandlerFunc
}

func newOtherAdapter(t *testing.T, clientCert bool) *otherAdapter {
	t.Helper()
	a := &otherAdapter{}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.requests = append(a.requests, r)
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			a.certs++
		}
		h := a.handle
		a.mu.Unlock()
		h(w, r)
	}))
	a.srv.EnableHTTP2 = true
	if clientCert {
		// Asked for; the tests check it came.
		a.srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS12}
	}
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	a.caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(a.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	a.handle = answerValue(42)
	return a
}

func (a *otherAdapter) set(h http.HandlerFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.handle = h
}

func (a *otherAdapter) last(t *testing.T) (*http.Request, int) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.requests) == 0 {
		t.Fatal("the other adapter got no request")
	}
	return a.requests[len(a.requests)-1], a.certs
}

// withClientCert gives o a front-proxy client certificate (a new pair in a
// test folder), so that the delegate forwards the caller's identity.
func withClientCert(t *testing.T, o DelegateOptions) DelegateOptions {
	t.Helper()
	certDir := t.TempDir()
	writePair(t, certDir)
	o.ClientCertFile, o.ClientKeyFile = filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key")
	return o
}

func (a *otherAdapter) options() DelegateOptions {
	return DelegateOptions{Address: a.srv.Listener.Addr().String(), ServerName: "example.com", CAFile: a.caFile, Log: logr.Discard()}
}

func answerValue(v int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v1beta1.ExternalMetricValueList{
			TypeMeta: metav1.TypeMeta{Kind: "ExternalMetricValueList", APIVersion: "external.metrics.k8s.io/v1beta1"},
			Items: []v1beta1.ExternalMetricValue{{
				MetricName: "keda-queue", MetricLabels: map[string]string{"scaledobject.keda.sh/name": "orders"},
				Timestamp: metav1.Now(), Value: *resource.NewQuantity(v, resource.DecimalSI),
			}},
		})
	}
}

func answerStatus(code int, reason, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure, Code: int32(code), Reason: metav1.StatusReason(reason), Message: msg,
		})
	}
}

func caller(ctx context.Context) context.Context {
	return request.WithUser(ctx, &user.DefaultInfo{
		Name: "system:serviceaccount:kube-system:horizontal-pod-autoscaler", UID: "u-1",
		Groups: []string{"system:serviceaccounts", "system:authenticated"},
		Extra:  map[string][]string{"authentication.kubernetes.io/pod-name": {"kcm-0"}},
	})
}

func TestDelegateForwardsTheCallersIdentityWithTheFrontProxyCertificate(t *testing.T) {
	a := newOtherAdapter(t, true)
	d, err := NewDelegate(withClientCert(t, a.options()))
	if err != nil {
		t.Fatal(err)
	}
	if !d.ForwardsIdentity() {
		t.Error("a delegate with a client certificate says it does not forward the caller")
	}
	sel := labels.SelectorFromSet(labels.Set{"scaledobject.keda.sh/name": "orders"})
	list, err := d.GetExternalMetric(caller(context.Background()), "shop", sel, "keda-queue")
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Value.Value() != 42 || list.Items[0].MetricLabels["scaledobject.keda.sh/name"] != "orders" {
		t.Errorf("the other adapter's answer is not passed on: %+v", list.Items)
	}
	r, certs := a.last(t)
	if certs != 1 {
		t.Error("the request came without the client certificate")
	}
	if r.URL.Path != "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/keda-queue" || r.URL.Query().Get("labelSelector") != "scaledobject.keda.sh/name=orders" {
		t.Errorf("asked for %s", r.URL)
	}
	for h, want := range map[string]string{
		"X-Remote-User":  "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
		"X-Remote-Uid":   "u-1",
		"X-Remote-Group": "system:serviceaccounts,system:authenticated",
		// The key escaped as the aggregator escapes it.
		"X-Remote-Extra-Authentication.kubernetes.io%2fpod-Name": "kcm-0",
	} {
		if got := strings.Join(r.Header.Values(h), ","); got != want {
			t.Errorf("%s = %q, want %q (headers %v)", h, got, want, r.Header)
		}
	}
	if r.Header.Get("Authorization") != "" {
		t.Error("a bearer token was sent with the front-proxy certificate")
	}

	// A read without a caller (never from the API server) is not sent.
	if _, err := d.GetExternalMetric(context.Background(), "shop", sel, "keda-queue"); !apierrors.IsInternalError(err) {
		t.Errorf("a read without a caller: %v, want an internal error", err)
	}
}

func TestDelegateWithoutACertificateSendsTheOperatorsToken(t *testing.T) {
	a := newOtherAdapter(t, false)
	o := a.options()
	o.BearerToken = "operator-token"
	d, err := NewDelegate(o)
	if err != nil {
		t.Fatal(err)
	}
	if d.ForwardsIdentity() {
		t.Error("a delegate without a client certificate says it forwards the caller")
	}
	if _, err := d.GetExternalMetric(caller(context.Background()), "shop", labels.Everything(), "keda-queue"); err != nil {
		t.Fatal(err)
	}
	r, _ := a.last(t)
	if got := r.Header.Get("Authorization"); got != "Bearer operator-token" {
		t.Errorf("Authorization = %q", got)
	}
	if r.Header.Get("X-Remote-User") != "" || r.URL.RawQuery != "" {
		t.Errorf("front-proxy headers or a selector were sent: %v %q", r.Header, r.URL.RawQuery)
	}
}

func TestDelegateErrors(t *testing.T) {
	huge := strings.Repeat("é\x1b[31m", 3000) // 36 KiB of JSON: a Status under the 64 KiB read
	for _, tc := range []struct {
		sentence   string
		handle     http.HandlerFunc
		wantCode   int32
		wantReason metav1.StatusReason
		wantMsg    string // contained
	}{
		{"its Forbidden is passed back with its reason and message", answerStatus(403, "Forbidden", `user "alice" cannot read keda-queue`),
			403, metav1.StatusReasonForbidden, `user "alice" cannot read keda-queue`},
		{"its NotFound is passed back", answerStatus(404, "NotFound", "no ScaledObject of KEDA serves it"),
			404, metav1.StatusReasonNotFound, "no ScaledObject of KEDA serves it"},
		{"a huge message with control characters is cut to 1 KiB of printable text", answerStatus(500, "InternalError", huge),
			500, metav1.StatusReasonInternalError, "é"},
		{"a Status over 64 KiB is not read whole: the code alone", answerStatus(500, "InternalError", strings.Repeat("secret ", 20000)),
			500, metav1.StatusReasonInternalError, "answered Internal Server Error"},
		{"a reason that is not a word is replaced by the code's", answerStatus(503, "Oops \x00 <script>", "down"),
			503, metav1.StatusReasonServiceUnavailable, "down"},
		{"a page that is not a Status gives the code and none of its bytes", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			_, _ = w.Write([]byte("<html>secret backend page</html>"))
		}, 502, metav1.StatusReasonInternalError, "answered Bad Gateway"},
		{"an answer that is not a value list is an internal error", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("secret not json"))
		}, 500, metav1.StatusReasonInternalError, "not an external metric value list"},
		{"an answer over 4 MiB is an internal error", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"items":[` + strings.Repeat(" ", 5<<20) + `]}`))
		}, 500, metav1.StatusReasonInternalError, "larger than"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			a := newOtherAdapter(t, false)
			a.set(tc.handle)
			o := a.options()
			o.BearerToken = "t"
			d, err := NewDelegate(o)
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.GetExternalMetric(caller(context.Background()), "shop", labels.Everything(), "keda-queue")
			var st apierrors.APIStatus
			if !errors.As(err, &st) {
				t.Fatalf("error %v is not an API error", err)
			}
			s := st.Status()
			if s.Code != tc.wantCode || s.Reason != tc.wantReason || !strings.Contains(s.Message, tc.wantMsg) {
				t.Errorf("got %d %s %q, want %d %s containing %q", s.Code, s.Reason, cut(s.Message), tc.wantCode, tc.wantReason, tc.wantMsg)
			}
			if len(s.Message) > maxDelegateMessage+len("…") {
				t.Errorf("message of %d bytes", len(s.Message))
			}
			for _, r := range s.Message {
				if !unicode.IsPrint(r) {
					t.Fatalf("message holds %q", r)
				}
			}
			if strings.Contains(s.Message, "secret") {
				t.Errorf("message carries the other adapter's bytes: %q", s.Message)
			}
		})
	}
}

func cut(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

func TestDelegateTimeoutAndUnreachable(t *testing.T) {
	a := newOtherAdapter(t, false)
	release := make(chan struct{})
	defer close(release)
	a.set(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	o := a.options()
	o.BearerToken, o.Timeout = "t", 300*time.Millisecond
	d, err := NewDelegate(o)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = d.GetExternalMetric(caller(context.Background()), "shop", labels.Everything(), "keda-queue")
	if !apierrors.IsServiceUnavailable(err) || !strings.Contains(err.Error(), "did not answer within 300ms") {
		t.Errorf("a hung adapter: %v, want ServiceUnavailable naming the timeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the read took %s with a 300 ms timeout", took)
	}

	o.Address = "127.0.0.1:1"
	d, err = NewDelegate(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = d.GetExternalMetric(caller(context.Background()), "shop", labels.Everything(), "keda-queue"); !apierrors.IsServiceUnavailable(err) || !strings.Contains(err.Error(), "cannot be reached") {
		t.Errorf("an adapter that is down: %v, want ServiceUnavailable", err)
	}
}

func TestDelegateOptionsAreChecked(t *testing.T) {
	a := newOtherAdapter(t, false)
	for _, tc := range []struct {
		sentence string
		change   func(*DelegateOptions)
		want     string
	}{
		{"an address without a port", func(o *DelegateOptions) { o.Address = "keda.svc" }, "not host:port"},
		{"neither a CA nor insecure", func(o *DelegateOptions) { o.CAFile = "" }, "give the CA"},
		{"both a CA and insecure", func(o *DelegateOptions) { o.InsecureSkipTLSVerify = true }, "exclude each other"},
		{"a certificate without its key", func(o *DelegateOptions) { o.ClientCertFile = "x" }, "both its certificate and its key"},
		{"no credentials", func(o *DelegateOptions) { o.BearerToken = "" }, "no client certificate and no token"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			o := a.options()
			o.BearerToken = "t"
			tc.change(&o)
			if _, err := NewDelegate(o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewDelegate: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestDelegatedMetricsAreListedWithEbbsAndServedWhenEbbHasNone(t *testing.T) {
	a := newOtherAdapter(t, true)
	var discoveryUsers []string
	var mu sync.Mutex
	a.set(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/external.metrics.k8s.io/v1beta1" {
			answerValue(42)(w, r)
			return
		}
		mu.Lock()
		discoveryUsers = append(discoveryUsers, r.Header.Get("X-Remote-User"))
		mu.Unlock()
		res := []metav1.APIResource{{Name: "keda-queue"}, {Name: "s0-rabbitmq-orders"}, {Name: "bad/name"}, {Name: strings.Repeat("x", 300)}, {Name: "keda-queue"}}
		_ = json.NewEncoder(w).Encode(metav1.APIResourceList{GroupVersion: "external.metrics.k8s.io/v1beta1", APIResources: res})
	})
	d, err := NewDelegate(withClientCert(t, a.options()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, 10*time.Second, "the delegate's list is read", func() bool { return len(d.ListExternalMetrics()) > 0 })
	if got := fmt.Sprint(d.ListExternalMetrics()); got != "[keda-queue s0-rabbitmq-orders]" {
		t.Errorf("the delegate lists %s", got)
	}
	mu.Lock()
	if len(discoveryUsers) == 0 || discoveryUsers[0] != discoveryUser {
		t.Errorf("discovery asked as %v", discoveryUsers)
	}
	mu.Unlock()

	p, src, reg := newTestProvider(t)
	p.SetDelegate(d)
	var names []string
	for _, m := range p.ListAllExternalMetrics() {
		names = append(names, m.Metric)
	}
	if got, want := fmt.Sprint(names), "[keda-queue s0-kafka-events s0-postgresql-rows s0-prometheus-q s0-rabbitmq-orders]"; got != want {
		t.Errorf("ListAllExternalMetrics = %s, want %s", got, want)
	}

	// Ebb's own read is Ebb's, even for a name the other adapter lists too.
	ours := labels.SelectorFromSet(labels.Set{"ebb.dev/scaledobject": "orders"})
	list, err := p.GetExternalMetric(caller(ctx), "shop", ours, provider.ExternalMetricInfo{Metric: "s0-rabbitmq-orders"})
	if err != nil || list.Items[0].Value.Value() != 101 {
		t.Fatalf("Ebb's metric: %v %v", list, err)
	}
	// A trigger that fails is Ebb's error, not delegated.
	broken := labels.SelectorFromSet(labels.Set{"ebb.dev/scaledobject": "broken"})
	if _, err := p.GetExternalMetric(caller(ctx), "shop", broken, provider.ExternalMetricInfo{Metric: "s0-kafka-events"}); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("Ebb's failing trigger: %v", err)
	}
	a.mu.Lock()
	before := len(a.requests)
	a.mu.Unlock()
	// What no ScaledObject serves goes to the other adapter.
	keda := labels.SelectorFromSet(labels.Set{"scaledobject.keda.sh/name": "orders"})
	list, err = p.GetExternalMetric(caller(ctx), "shop", keda, provider.ExternalMetricInfo{Metric: "keda-queue"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Value.Value() != 42 {
		t.Fatalf("a KEDA metric: %v %v", list, err)
	}
	// So does an Ebb metric name of a ScaledObject that does not exist.
	gone := labels.SelectorFromSet(labels.Set{"ebb.dev/scaledobject": "gone"})
	if _, err := p.GetExternalMetric(caller(ctx), "shop", gone, provider.ExternalMetricInfo{Metric: "s0-rabbitmq-orders"}); err != nil {
		t.Fatalf("a read no ScaledObject serves: %v", err)
	}
	a.mu.Lock()
	sent := len(a.requests) - before
	a.mu.Unlock()
	if sent != 2 {
		t.Errorf("%d reads delegated, want 2", sent)
	}
	for _, r := range src.reads {
		if r.Metric == "keda-queue" {
			t.Errorf("the metric store was asked for a metric it does not serve with a selector naming none: %v", r)
		}
	}
	a.set(answerStatus(403, "Forbidden", "no"))
	_, _ = p.GetExternalMetric(caller(ctx), "shop", keda, provider.ExternalMetricInfo{Metric: "keda-queue"})
	counts := map[string]uint64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			counts[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
		}
	}
	if counts[ResultDelegated] != 2 || counts[ResultDelegateError] != 1 || counts[ResultNotFound] != 0 {
		t.Errorf("requests by result = %v", counts)
	}
}

// A Provider without a delegate still answers NotFound for what it does
// not serve.
func TestWithoutADelegateNotOursIsNotFound(t *testing.T) {
	p, _, _ := newTestProvider(t)
	_, err := p.GetExternalMetric(context.Background(), "shop", labels.Everything(), provider.ExternalMetricInfo{Metric: "keda-queue"})
	if !apierrors.IsNotFound(err) {
		t.Errorf("%v, want NotFound", err)
	}
}
