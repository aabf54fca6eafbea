// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// WebhookCertOptions configure the admission webhook's generated serving
// certificate.
type WebhookCertOptions struct {
	// Namespace and CASecret: the Secret that keeps the CA, made by the
	// first replica (as the adapter's, see sharedAuthority).
	Namespace string
	CASecret  string
	// Owners are the owner references of the CA Secret when it is made
	// (package internal/owner).
	Owners []metav1.OwnerReference
	// ServiceName is the webhook's Service in Namespace: the certificate is
	// made for <name>.<namespace>.svc and the other names of it.
	ServiceName string
	// Configuration is the ValidatingWebhookConfiguration whose webhooks'
	// caBundle is kept equal to the CA; empty: none.
	Configuration string
	// Validity of the serving certificate; renewed after two thirds of it.
	Validity time.Duration
	Log      logr.Logger
}

// WebhookCert is the admission webhook's serving certificate when
// cert-manager does not provide one: the operator makes it at start, signed
// by a CA it keeps in a Secret, renews it, and keeps the webhook
// configuration's caBundle equal to that CA, so the Helm chart renders no
// key material (the same output on every `helm template`). It is a
// controller-runtime Runnable (every replica: each serves the webhook).
type WebhookCert struct {
	gen      *generatedCert
	kc       kubernetes.Interface
	config   string
	log      logr.Logger
	mu       sync.Mutex
	cert     *tls.Certificate
	certFrom []byte // the PEM cert is parsed from
}

// NewWebhookCert reads (or makes) the CA and makes a serving certificate.
func NewWebhookCert(ctx context.Context, kc kubernetes.Interface, o WebhookCertOptions) (*WebhookCert, error) {
	if o.Namespace == "" || o.CASecret == "" {
		return nil, fmt.Errorf("webhook certificate: the CA Secret and its namespace are required")
	}
	ca, err := sharedAuthority(ctx, kc, o.Namespace, o.CASecret, o.Owners, time.Now())
	if err != nil {
		return nil, fmt.Errorf("webhook certificate: %w", err)
	}
	g, err := newGeneratedCert(clock.RealClock{}, ca, o.Validity, serviceDNSNames(o.ServiceName, o.Namespace),
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, o.Log.WithName("certificate"))
	if err != nil {
		return nil, err
	}
	return &WebhookCert{gen: g, kc: kc, config: o.Configuration, log: o.Log}, nil
}

// CAPEM is the CA that signs the serving certificate.
func (w *WebhookCert) CAPEM() []byte { return w.gen.CAPEM() }

// GetCertificate is tls.Config.GetCertificate: the current certificate.
func (w *WebhookCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	certPEM, keyPEM := w.gen.CurrentCertKeyContent()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cert == nil || !bytes.Equal(w.certFrom, certPEM) {
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		w.cert, w.certFrom = &c, certPEM
	}
	return w.cert, nil
}

// Start renews the certificate and keeps the caBundle until ctx ends.
func (w *WebhookCert) Start(ctx context.Context) error {
	go w.gen.Run(ctx, 1)
	if w.config == "" {
		<-ctx.Done()
		return nil
	}
	retry := time.Second
	for {
		wait := caCheckInterval
		changed, err := w.ensureCABundle(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			w.log.Info("Cannot set the webhook configuration's caBundle yet; retrying", "configuration", w.config, "error", err.Error(), "retryIn", retry)
			wait, retry = retry, min(retry*2, 30*time.Second)
		default:
			retry = time.Second
			if changed {
				w.log.Info("Set the webhook configuration's caBundle to the operator's CA", "configuration", w.config)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection: every replica serves the webhook.
func (w *WebhookCert) NeedLeaderElection() bool { return false }

// ensureCABundle sets every webhook's caBundle to the CA where it differs
// (one GET, and one strategic-merge PATCH keyed by webhook name when
// needed), and says whether it changed one.
func (w *WebhookCert) ensureCABundle(ctx context.Context) (bool, error) {
	vwc, err := w.kc.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, w.config, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	ca := w.gen.CAPEM()
	type hook struct {
		Name         string         `json:"name"`
		ClientConfig map[string]any `json:"clientConfig"`
	}
	var hooks []hook
	for _, h := range vwc.Webhooks {
		if !bytes.Equal(h.ClientConfig.CABundle, ca) {
			hooks = append(hooks, hook{Name: h.Name, ClientConfig: map[string]any{"caBundle": ca}})
		}
	}
	if len(hooks) == 0 {
		return false, nil
	}
	patch, err := json.Marshal(map[string]any{"webhooks": hooks})
	if err != nil {
		return false, err
	}
	_, err = w.kc.AdmissionregistrationV1().ValidatingWebhookConfigurations().Patch(ctx, w.config, types.StrategicMergePatchType, patch,
		metav1.PatchOptions{FieldManager: "ebb-operator"})
	return err == nil, err
}
