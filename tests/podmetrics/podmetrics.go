// SPDX-License-Identifier: Apache-2.0

// Package podmetrics serves the resource metrics API (metrics.k8s.io/v1beta1
// PodMetrics) to a test control plane, for tests of cpu and memory triggers
// with the real HPA before a real node runs pods. It stands where
// metrics-server would: the API server's aggregator reaches it through the
// APIService v1beta1.metrics.k8s.io (a Service of type ExternalName
// localhost, the caBundle its own CA), and kube-controller-manager's HPA
// reads the pods' use from it. The use of each pod is what the test sets,
// for the pods the API server lists: the server is a source of numbers, not
// a fake of the HPA's arithmetic, which stays the real one.
//
// The pods themselves never run (there is no kubelet): MarkRunning gives
// them the status a kubelet would, so that the HPA counts them.
package podmetrics

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/internal/localcluster"
)

// Where the APIService points.
const (
	Namespace = "kube-system"
	Service   = "metrics-server"
)

// Server serves PodMetrics for the pods of a test control plane.
type Server struct {
	c    client.Client
	port int

	mu sync.Mutex
	// use is each namespace's per-container use, for every pod in it.
	use map[string]corev1.ResourceList
}

// Start serves the resource metrics API on a loopback port and registers it
// with the control plane's aggregator (which needs WithAggregator); c reads
// the pods. The server stops when the test ends.
func Start(t testing.TB, c client.Client) *Server {
	t.Helper()
	s := &Server{c: c, use: map[string]corev1.ResourceList{}}
	caPEM, cert, err := serving(Service + "." + Namespace + ".svc")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: s, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	api := localcluster.LoopbackAPIService{
		GroupVersion: schema.GroupVersion{Group: metricsv1beta1.SchemeGroupVersion.Group, Version: metricsv1beta1.SchemeGroupVersion.Version},
		Namespace:    Namespace, Service: Service, Port: s.port,
	}
	ctx := t.Context()
	if err := api.Register(ctx, c); err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion("apiregistration.k8s.io/v1")
	obj.SetKind("APIService")
	obj.SetName(api.Name())
	patch := fmt.Sprintf(`{"spec":{"caBundle":%q}}`, base64.StdEncoding.EncodeToString(caPEM))
	if err := c.Patch(ctx, obj, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatalf("setting the caBundle of APIService %s: %v", api.Name(), err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, why, err := api.Available(ctx, c)
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("APIService %s did not become Available: %s %v", api.Name(), why, err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return s
}

// SetUse makes every container of every pod in namespace use cpu and
// memory (quantities such as "200m" and "64Mi"), from now on.
func (s *Server) SetUse(namespace, cpu, memory string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.use[namespace] = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
}

// ServeHTTP answers discovery and the lists of PodMetrics by namespace.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/apis/metrics.k8s.io/v1beta1"
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == prefix:
		writeJSON(w, &metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: metricsv1beta1.SchemeGroupVersion.String(),
			APIResources: []metav1.APIResource{{Name: "pods", Kind: "PodMetrics", Namespaced: true, Verbs: []string{"get", "list"}}},
		})
	case strings.HasPrefix(path, prefix+"/namespaces/") && strings.HasSuffix(path, "/pods"):
		ns := strings.TrimSuffix(strings.TrimPrefix(path, prefix+"/namespaces/"), "/pods")
		list, err := s.list(r.Context(), ns, r.URL.Query().Get("labelSelector"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, list)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) list(ctx context.Context, ns, selector string) (*metricsv1beta1.PodMetricsList, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, err
	}
	var pods corev1.PodList
	if err := s.c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	use, ok := s.use[ns]
	s.mu.Unlock()
	out := &metricsv1beta1.PodMetricsList{TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: metricsv1beta1.SchemeGroupVersion.String()}}
	if !ok {
		return out, nil
	}
	now := metav1.Now()
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			continue
		}
		pm := metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels},
			Timestamp:  now, Window: metav1.Duration{Duration: 15 * time.Second},
		}
		for _, c := range p.Spec.Containers {
			pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: use.DeepCopy()})
		}
		out.Items = append(out.Items, pm)
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// MarkRunning gives every pod in namespace matching selector that is not
// running yet the status a kubelet would give a pod that started ten
// minutes ago and is ready (past the HPA's CPU initialization period), and
// returns how many pods run now.
func MarkRunning(ctx context.Context, c client.Client, namespace string, selector map[string]string) (int, error) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels(selector)); err != nil {
		return 0, err
	}
	running := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Status.Phase == corev1.PodRunning {
			running++
			continue
		}
		started := metav1.NewTime(time.Now().Add(-10 * time.Minute))
		p.Status.Phase = corev1.PodRunning
		p.Status.StartTime = &started
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started}}
		for _, ctr := range p.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: ctr.Name, Image: ctr.Image, Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
			})
		}
		if err := c.Status().Update(ctx, p); err != nil {
			return running, fmt.Errorf("marking pod %s running: %w", p.Name, err)
		}
		running++
	}
	return running, nil
}

// serving makes a CA and a serving certificate for name signed by it.
func serving(name string) (caPEM []byte, cert tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "podmetrics test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, cert, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, cert, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name, "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, cert, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, cert, err
	}
	cert, err = tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return nil, cert, errors.Join(errors.New("serving certificate"), err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), cert, nil
}
