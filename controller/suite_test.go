// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/postgresql"
	"github.com/ebbscale/ebb/scalers/rabbitmq"
	"github.com/ebbscale/ebb/scalers/resource"
	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
)

// One real control plane (etcd, kube-apiserver, kube-controller-manager with
// the HPA controller) serves every test of the package that needs one; each
// test has its own namespace and its own operator. It starts on first use, so
// unit tests and fuzzing run without it.
var (
	cp      *controlplane.ControlPlane
	cpOnce  sync.Once
	cpErr   error
	cpStart = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cp, cpErr = controlplane.New(ctx, controlplane.Options{ControllerManager: true})
	}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cp != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "control plane logs:\n%s\n", cp.Logs(40))
		}
		if err := cp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the control plane:", err)
		}
	}
	os.Exit(code)
}

// env is one test's namespace and operator.
type env struct {
	t  *testing.T
	c  client.Client
	ns string
	// metrics, when set, is where the operators started from here on
	// register Ebb's metrics.
	metrics prometheus.Registerer
	// chartValues are the Helm chart values whose RBAC the operators
	// started from here on run under; nil: the defaults.
	chartValues map[string]any
	// noScaledJobs runs the operators as the chart's default does: without
	// ScaledJobs (controller.Options.DisableScaledJobs) and without their
	// permissions. Otherwise they run ScaledJobs, under the chart's RBAC
	// with scaledJobs.enabled.
	noScaledJobs bool
	// types are trigger types the operators serve besides rabbitmq and
	// postgresql (test-only ones).
	types []scalers.Type
}

func newEnv(t *testing.T, webhookOn bool) *env {
	t.Helper()
	cpOnce.Do(cpStart)
	if cpErr != nil {
		t.Fatalf("start the control plane: %v", cpErr)
	}
	name := "t-" + strings.ToLower(randSuffix())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"ebb-test": name}}}
	if err := cp.Client.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: cp.Client, ns: name}
	if webhookOn {
		e.installWebhook()
	}
	return e
}

// operator runs Ebb's controller in this process until stop is called (or
// the test ends).
type operator struct {
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
	elected <-chan struct{}
}

func (o *operator) leader() bool {
	select {
	case <-o.elected:
		return true
	default:
		return false
	}
}

func (o *operator) stop(t *testing.T) {
	o.once.Do(func() {
		o.cancel()
		if err := <-o.done; err != nil {
			t.Errorf("operator: %v", err)
		}
	})
}

func (e *env) startOperator(webhookCertDir string, webhookPort int) *operator {
	e.t.Helper()
	o, _ := e.startOperatorWith(webhookCertDir, webhookPort, false)
	return o
}

// startOperatorWith starts an operator, optionally in a leader election with
// the other operators of the test, and returns its scale loop. The operator
// acts as the Helm chart's ServiceAccount with the chart's RBAC (rendered
// with e.chartValues), the test's namespace as the release namespace.
func (e *env) startOperatorWith(webhookCertDir string, webhookPort int, leaderElect bool) (*operator, *controller.ScaleLoop) {
	t := e.t
	t.Helper()
	opts := ctrl.Options{
		LeaderElection:          leaderElect,
		LeaderElectionID:        "ebb-test",
		LeaderElectionNamespace: e.ns,
		// Generous enough that a loaded CI machine does not miss a renewal
		// (with 2 s, both operators once led); a stopped leader releases
		// its lease, so a takeover still takes about one RetryPeriod.
		LeaseDuration:                 ptr.To(15 * time.Second),
		RenewDeadline:                 ptr.To(10 * time.Second),
		RetryPeriod:                   ptr.To(time.Second),
		LeaderElectionReleaseOnCancel: true,
		Scheme:                        cp.Scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		Controller:                    config.Controller{SkipNameValidation: ptr.To(true)},
		Logger:                        testLogger(t),
	}
	if webhookCertDir != "" {
		opts.WebhookServer = webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: webhookPort, CertDir: webhookCertDir})
	}
	values := maps.Clone(e.chartValues)
	if values == nil {
		values = map[string]any{}
	}
	values["scaledJobs"] = map[string]any{"enabled": !e.noScaledJobs}
	id := chartrbac.Operator(t, cp, chartrbac.Options{Namespace: e.ns, Values: values})
	mgr, err := ctrl.NewManager(id.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	cpu, memory := resource.NewTypes()
	reg, err := scalers.NewRegistry(append([]scalers.Type{rabbitmq.NewType(), postgresql.NewType(), cpu, memory}, e.types...)...)
	if err != nil {
		t.Fatal(err)
	}
	loop, err := controller.Setup(mgr, controller.Options{Registry: reg, OperatorNamespace: e.ns, Webhook: webhookCertDir != "", DisableScaledJobs: e.noScaledJobs})
	if err != nil {
		t.Fatal(err)
	}
	if e.metrics != nil {
		// As the operator does: after Setup, before the manager starts.
		if loop.Metrics, err = controller.NewMetrics(e.metrics, nil, "v0.test"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &operator{cancel: cancel, done: make(chan error, 1), elected: mgr.Elected()}
	go func() { o.done <- mgr.Start(ctx) }()
	t.Cleanup(func() { o.stop(t) })
	return o, loop
}

// installWebhook starts an operator serving the admission webhook and
// registers it for this test's namespace only.
func (e *env) installWebhook() {
	e.installWebhookFor(e)
}

// installWebhookFor starts an operator (e's namespace its own) serving the
// admission webhook, registers it for the namespaces of tenants, and
// returns the operator's scale loop.
func (e *env) installWebhookFor(tenants ...*env) *controller.ScaleLoop {
	t := e.t
	dir := t.TempDir()
	caPEM := writeServingCert(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, loop := e.startOperatorWith(dir, port, false)
	var names []string
	for _, x := range tenants {
		names = append(names, x.ns)
	}
	sel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "ebb-test", Operator: metav1.LabelSelectorOpIn, Values: names}}}
	url := fmt.Sprintf("https://127.0.0.1:%d/validate-ebb-dev-v1alpha1-scaledobject", port)
	jobURL := fmt.Sprintf("https://127.0.0.1:%d/validate-ebb-dev-v1alpha1-scaledjob", port)
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ebb-" + e.ns},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "scaledobjects.ebb.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{"CREATE", "UPDATE"}, Rule: admissionregistrationv1.Rule{APIGroups: []string{"ebb.dev"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"scaledobjects"}}}},
			NamespaceSelector:       sel,
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		}, {
			Name:                    "scaledjobs.ebb.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &jobURL, CABundle: caPEM},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{"CREATE", "UPDATE"}, Rule: admissionregistrationv1.Rule{APIGroups: []string{"ebb.dev"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"scaledjobs"}}}},
			NamespaceSelector:       sel,
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		}},
	}
	if err := e.c.Create(t.Context(), vwc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.c.Delete(context.Background(), vwc) })
	// The webhook is live once it rejects a bad object.
	for _, x := range tenants {
		x.waitFor(30*time.Second, "the webhook to answer", func() (bool, error) {
			bad := x.scaledObject("probe", "nothing", rabbitTrigger("amqp://127.0.0.1:1/", "q", "not-a-number"))
			err := x.c.Create(t.Context(), bad)
			if err == nil {
				_ = x.c.Delete(t.Context(), bad)
				return false, nil
			}
			return strings.Contains(err.Error(), "admission webhook"), nil
		})
	}
	return loop
}

func writeServingCert(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ebb-webhook"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM
}

// waitFor polls cond every 100 ms until it holds.
// update applies mutate to the latest version of obj (read again by its
// key) and writes it, once more on a conflict: the operator writes the same
// objects (finalizers, status), so a read-then-write can lose a race.
func (e *env) update(obj client.Object, mutate func()) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := e.c.Get(e.t.Context(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate()
		return e.c.Update(e.t.Context(), obj)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) waitFor(timeout time.Duration, what string, cond func() (bool, error)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *env) deployment(name string, replicas int32) *appsv1.Deployment {
	e.t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "example.invalid/worker:1"}}},
			},
		},
	}
	if err := e.c.Create(e.t.Context(), d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) replicas(deployment string) int32 {
	e.t.Helper()
	var d appsv1.Deployment
	if err := e.c.Get(e.t.Context(), client.ObjectKey{Namespace: e.ns, Name: deployment}, &d); err != nil {
		e.t.Fatal(err)
	}
	return ptr.Deref(d.Spec.Replicas, 1)
}

func (e *env) waitReplicas(deployment string, want int32, timeout time.Duration) time.Duration {
	e.t.Helper()
	start := time.Now()
	e.waitFor(timeout, fmt.Sprintf("%s to have %d replicas", deployment, want), func() (bool, error) {
		return e.replicas(deployment) == want, nil
	})
	return time.Since(start)
}

func (e *env) scaledObject(name, target string, triggers ...v1alpha1.Trigger) *v1alpha1.ScaledObject {
	return &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef: v1alpha1.ScaleTarget{Name: target},
			Triggers:       triggers,
		},
	}
}

func (e *env) create(obj client.Object) {
	e.t.Helper()
	if err := e.c.Create(e.t.Context(), obj); err != nil {
		e.t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func (e *env) get(name string) *v1alpha1.ScaledObject {
	e.t.Helper()
	var so v1alpha1.ScaledObject
	if err := e.c.Get(e.t.Context(), client.ObjectKey{Namespace: e.ns, Name: name}, &so); err != nil {
		e.t.Fatal(err)
	}
	return &so
}

func (e *env) waitCondition(name, typ string, status metav1.ConditionStatus, reason string, timeout time.Duration) *v1alpha1.ScaledObject {
	e.t.Helper()
	var so *v1alpha1.ScaledObject
	e.waitFor(timeout, fmt.Sprintf("%s %s=%s (%s)", name, typ, status, reason), func() (bool, error) {
		so = e.get(name)
		c := meta.FindStatusCondition(so.Status.Conditions, typ)
		return c != nil && c.Status == status && (reason == "" || c.Reason == reason), nil
	})
	return so
}

func (e *env) hpa(name string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	var h autoscalingv2.HorizontalPodAutoscaler
	err := e.c.Get(e.t.Context(), client.ObjectKey{Namespace: e.ns, Name: name}, &h)
	return &h, err
}

// events returns the reasons and messages of the events about a
// ScaledObject.
func (e *env) events(name string) []string {
	e.t.Helper()
	return e.eventsOf("ScaledObject", name)
}

// eventsOf returns the reasons and messages of the events about the object
// of that kind and name.
func (e *env) eventsOf(kind, name string) []string {
	e.t.Helper()
	var list corev1.EventList
	if err := e.c.List(e.t.Context(), &list, client.InNamespace(e.ns)); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name == name && ev.InvolvedObject.Kind == kind {
			out = append(out, ev.Reason+": "+ev.Message)
		}
	}
	return out
}

func (e *env) waitEvent(name, reason string) string {
	e.t.Helper()
	return e.waitEventOf("ScaledObject", name, name, reason)
}

// waitEventOf waits for an event with reason about the object of that kind
// and name, and returns it; what names the object in a failure.
func (e *env) waitEventOf(kind, name, what, reason string) string {
	e.t.Helper()
	var found string
	e.waitFor(30*time.Second, "event "+reason+" on "+what, func() (bool, error) {
		for _, ev := range e.eventsOf(kind, name) {
			if strings.HasPrefix(ev, reason+": ") {
				found = ev
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

func randSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// --- RabbitMQ ---

const rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

func rabbitTrigger(host, queue, value string) v1alpha1.Trigger {
	return v1alpha1.Trigger{Type: "rabbitmq", Name: "queue", Metadata: map[string]string{"host": host, "queueName": queue, "value": value}}
}

type rabbit struct {
	t  *testing.T
	ch *amqp.Channel
}

func newRabbit(t *testing.T) *rabbit {
	t.Helper()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		t.Fatalf("RabbitMQ on 127.0.0.1:5672 is required (make test starts it): %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return &rabbit{t: t, ch: ch}
}

func (r *rabbit) queue() string {
	r.t.Helper()
	name := "ebb-ctl-" + randSuffix()
	if _, err := r.ch.QueueDeclare(name, false, false, false, false, nil); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _, _ = r.ch.QueueDelete(name, false, false, false) })
	return name
}

func (r *rabbit) publish(q string, n int) {
	r.t.Helper()
	for i := 0; i < n; i++ {
		if err := r.ch.PublishWithContext(r.t.Context(), "", q, false, false, amqp.Publishing{Body: []byte("work")}); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *rabbit) purge(q string) {
	r.t.Helper()
	if _, err := r.ch.QueuePurge(q, false); err != nil {
		r.t.Fatal(err)
	}
}

// testLogger logs to stderr when EBB_TEST_LOG is set, else nowhere: the
// operator outlives a test's t.Log.
func testLogger(t *testing.T) logr.Logger {
	if os.Getenv("EBB_TEST_LOG") == "" {
		return logr.Discard()
	}
	name := t.Name()
	return funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, name, prefix, args) }, funcr.Options{Verbosity: 1})
}
