// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/metricsadapter"
	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/operatorproc"
	"github.com/ebbscale/ebb/tests/podmetrics"
)

// A source the scenario drives: it sets the value the trigger reads.
type source interface {
	// trigger is the ScaledObject's trigger (and the objects it needs in
	// namespace ns, created by setup).
	setup(t *testing.T, c client.Client, ns string) v1alpha1.Trigger
	// one makes the trigger read 1.
	one(t *testing.T)
	// burst adds 100, so that the trigger reads burstValue.
	burst(t *testing.T)
	// burstValue is what the trigger reads after burst.
	burstValue() float64
	// drain makes the trigger read 0.
	drain(t *testing.T)
}

// The metrics adapter proven with the real HPA: the operator runs as a
// process; kube-apiserver's aggregator reaches its adapter through the
// APIService v1beta1.external.metrics.k8s.io (a Service of type
// ExternalName localhost, the caBundle set by the operator to its generated
// CA); the horizontal-pod-autoscaler controller of kube-controller-manager
// reads each ScaledObject's metric from it. For RabbitMQ, Kafka and
// PostgreSQL alike: one event brings a Deployment from 0 to 1 (the scale
// loop), 100 more bring it to 5 (the HPA, on our number, which its status
// shows), and once the source is drained it goes back to 1 (the HPA) and
// then to 0 after the cooldown (the scale loop).
func TestMetricsAdapterWithTheRealHPA(t *testing.T) {
	bin := operatorproc.Build(t, "")
	cp := controlplane.Start(t, controlplane.WithControllerManager(), controlplane.WithAggregator())
	port := operatorproc.FreePort(t)
	operatorproc.Register(t, cp.Client, port)
	metricsPort, probePort := operatorproc.FreePort(t), operatorproc.FreePort(t)
	// The operator acts as the chart's ServiceAccount, under its RBAC.
	id := chartrbac.Operator(t, cp, chartrbac.Options{Namespace: operatorproc.Namespace})
	// kube-controller-manager runs the HPA with a 1 s sync period here, and
	// the operator is told so.
	op := operatorproc.Start(t, bin, operatorproc.Options{Kubeconfig: id.Kubeconfig, AdapterPort: port, MetricsPort: metricsPort, ProbePort: probePort, Args: []string{"--v=1", "--hpa-sync-period=1s"}})

	available := func(t *testing.T, op *operatorproc.Process) string {
		t.Helper()
		var bundle string
		operatorproc.Eventually(t, op, 90*time.Second, "APIService Available", func(ctx context.Context) (bool, string) {
			ok, reason, ca, err := apiServiceState(ctx, cp.Client)
			if err != nil {
				return false, err.Error()
			}
			if ca == "" {
				return false, "no caBundle yet"
			}
			bundle = ca
			return ok, reason
		})
		return bundle
	}
	var bundle string
	t.Run("the operator puts its CA into the APIService, which becomes Available", func(t *testing.T) {
		bundle = available(t, op)
		pem, err := base64.StdEncoding.DecodeString(bundle)
		if err != nil {
			t.Fatal(err)
		}
		var sec corev1.Secret
		if err := cp.Client.Get(t.Context(), client.ObjectKey{Namespace: operatorNamespace, Name: "ebb-metrics-adapter-ca"}, &sec); err != nil {
			t.Fatalf("the CA's Secret: %v", err)
		}
		if string(sec.Data["ca.crt"]) != string(pem) {
			t.Error("the caBundle is not the CA kept in the Secret")
		}
	})
	t.Run("readyz reports the caches and the adapter", func(t *testing.T) {
		// The pod is ready only when what it serves works: the checks are
		// named in /readyz and all pass once the APIService is Available.
		operatorproc.Eventually(t, op, 30*time.Second, "/readyz answers 200", func(ctx context.Context) (bool, string) {
			code, body, err := getURL(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz?verbose=1", probePort))
			if err != nil {
				return false, err.Error()
			}
			return code == http.StatusOK, body
		})
		_, body, err := getURL(t.Context(), fmt.Sprintf("http://127.0.0.1:%d/readyz?verbose=1", probePort))
		if err != nil {
			t.Fatal(err)
		}
		for _, check := range []string{"[+]caches ok", "[+]adapter ok"} {
			if !strings.Contains(body, check) {
				t.Errorf("/readyz does not report %q:\n%s", check, body)
			}
		}
	})
	if t.Failed() {
		return
	}
	// A restarted operator signs with the same CA (kept in the Secret): the
	// caBundle stays valid.
	op.Stop(t)
	op = operatorproc.Start(t, bin, operatorproc.Options{Kubeconfig: id.Kubeconfig, AdapterPort: port, MetricsPort: metricsPort, Args: []string{"--v=1"}})
	if got := available(t, op); got != bundle {
		t.Fatal("the caBundle changed across a restart of the operator")
	}

	kc, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("an unknown metric is NotFound through the aggregator", func(t *testing.T) {
		// Right after the restart the aggregator may still answer 503 from
		// its connection to the old process.
		operatorproc.Eventually(t, op, 60*time.Second, "a 404 for an unknown metric", func(ctx context.Context) (bool, string) {
			_, err := readExternal(ctx, kc, "default", "s0-rabbitmq-nothing", "ebb.dev/scaledobject=nothing")
			return err != nil && isStatus(err, 404), fmt.Sprintf("read of an unknown metric: %v", err)
		})
	})
	t.Run("the adapter serves TLS for its Service name and refuses callers the API server does not vouch for", func(t *testing.T) {
		_, _, ca, err := apiServiceState(t.Context(), cp.Client)
		if err != nil {
			t.Fatal(err)
		}
		pemCA, err := base64.StdEncoding.DecodeString(ca)
		if err != nil {
			t.Fatal(err)
		}
		front, err := tls.LoadX509KeyPair(cp.FrontProxy.ClientCertFile, cp.FrontProxy.ClientKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		url := fmt.Sprintf("https://127.0.0.1:%d/apis/external.metrics.k8s.io/v1beta1/namespaces/default/s0-rabbitmq-x?labelSelector=ebb.dev%%2Fscaledobject%%3Dx", port)
		for _, tc := range []struct {
			sentence string
			cert     bool
			user     string
			group    string
			want     int
		}{
			{"a caller without the front-proxy certificate is anonymous and forbidden", false, "system:kube-controller-manager", "system:masters", http.StatusForbidden},
			{"the front proxy's user without RBAC is forbidden", true, "nobody", "system:authenticated", http.StatusForbidden},
			{"the front proxy's system:masters user reaches the provider", true, "admin", "system:masters", http.StatusNotFound},
		} {
			t.Run(tc.sentence, func(t *testing.T) {
				roots := x509.NewCertPool()
				if !roots.AppendCertsFromPEM(pemCA) {
					t.Fatal("the caBundle holds no certificate")
				}
				cfg := &tls.Config{RootCAs: roots, ServerName: adapterService + "." + operatorNamespace + ".svc", MinVersion: tls.VersionTLS12}
				if tc.cert {
					cfg.Certificates = []tls.Certificate{front}
				}
				tr := &http.Transport{TLSClientConfig: cfg}
				defer tr.CloseIdleConnections()
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Remote-User", tc.user)
				req.Header.Set("X-Remote-Group", tc.group)
				res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					t.Fatalf("GET with the caBundle as the only root, for the Service's name: %v", err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != tc.want {
					t.Fatalf("status %s, want %d: %s", res.Status, tc.want, body)
				}
			})
		}
	})
	t.Run("the operator's metrics endpoint counts adapter requests by result", func(t *testing.T) {
		operatorproc.Eventually(t, op, 30*time.Second, "a not_found request in "+metricsadapter.RequestDurationName, func(ctx context.Context) (bool, string) {
			n, err := scrapeCount(ctx, metricsPort, metricsadapter.RequestDurationName+"_count", metricsadapter.ResultNotFound)
			if err != nil {
				return false, err.Error()
			}
			return n >= 1, fmt.Sprintf("%v not_found requests counted", n)
		})
	})

	pm := podmetrics.Start(t, cp.Client)
	t.Run("cpu and a queue", func(t *testing.T) {
		t.Parallel()
		resourceScenario(t, cp, op, pm)
	})
	t.Run("a burst with one replica running reaches the HPA before the next poll, at the default 30 s polling interval", func(t *testing.T) {
		t.Parallel()
		burstScenario(t, cp, op, "e2e-burst", &rabbitSource{})
	})
	for _, tc := range []struct {
		name string
		src  source
	}{
		{"rabbitmq", &rabbitSource{}},
		{"kafka", &kafkaSource{}},
		{"postgresql", &postgresSource{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			scenario(t, cp, kc, op, "e2e-"+tc.name, tc.src)
		})
	}
}

func scenario(t *testing.T, cp *controlplane.ControlPlane, kc kubernetes.Interface, op *operatorproc.Process, ns string, src source) {
	ctx := t.Context()
	c := cp.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	deploy := worker(ns, nil)
	if err := c.Create(ctx, deploy); err != nil {
		t.Fatal(err)
	}
	trig := src.setup(t, c, ns)
	so := workerScaledObject(deploy, 5, trig)
	if err := c.Create(ctx, so); err != nil {
		t.Fatal(err)
	}

	replicas := func(ctx context.Context) (int32, error) {
		var d appsv1.Deployment
		err := c.Get(ctx, client.ObjectKeyFromObject(deploy), &d)
		return ptr.Deref(d.Spec.Replicas, -1), err
	}
	waitReplicas := func(want int32, timeout time.Duration, why string) {
		t.Helper()
		operatorproc.Eventually(t, op, timeout, why, func(ctx context.Context) (bool, string) {
			n, err := replicas(ctx)
			if err != nil {
				return false, err.Error()
			}
			return n == want, fmt.Sprintf("replicas %d, want %d", n, want)
		})
	}

	var hpa autoscalingv2.HorizontalPodAutoscaler
	operatorproc.Eventually(t, op, 60*time.Second, "the operator makes the HPA", func(ctx context.Context) (bool, string) {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: so.HPAName()}, &hpa); err != nil {
			return false, err.Error()
		}
		return len(hpa.Spec.Metrics) == 1 && hpa.Spec.Metrics[0].External != nil, "HPA without its external metric"
	})
	metric := hpa.Spec.Metrics[0].External.Metric.Name
	selector := fmt.Sprintf("%s=%s", v1alpha1.LabelScaledObject, so.Name)

	// 0 → 1: the scale loop, on the first event.
	src.one(t)
	waitReplicas(1, 60*time.Second, "one event brings the Deployment from 0 to 1")

	// 1 → 5: the HPA, reading our adapter.
	src.burst(t)
	want := src.burstValue()
	operatorproc.Eventually(t, op, 60*time.Second, "the adapter serves the burst through the aggregator", func(ctx context.Context) (bool, string) {
		list, err := readExternal(ctx, kc, ns, metric, selector)
		if err != nil {
			return false, err.Error()
		}
		if len(list.Items) != 1 {
			return false, fmt.Sprintf("%d items", len(list.Items))
		}
		v := list.Items[0].Value.AsApproximateFloat64()
		return math.Abs(v-want) < 0.001, fmt.Sprintf("value %v, want %v", v, want)
	})
	waitReplicas(5, 120*time.Second, "the HPA scales the Deployment to its max 5")
	operatorproc.Eventually(t, op, 60*time.Second, "the HPA's status shows the value the adapter served", func(ctx context.Context) (bool, string) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(&hpa), &hpa); err != nil {
			return false, err.Error()
		}
		for _, m := range hpa.Status.CurrentMetrics {
			if m.Type != autoscalingv2.ExternalMetricSourceType || m.External == nil || m.External.Metric.Name != metric || m.External.Current.AverageValue == nil {
				continue
			}
			// AverageValue: the HPA shows value / current replicas.
			got := m.External.Current.AverageValue.AsApproximateFloat64() * float64(hpa.Status.CurrentReplicas)
			return math.Abs(got-want) < 0.01*float64(hpa.Status.CurrentReplicas)+0.001,
				fmt.Sprintf("HPA average %s × %d replicas = %v, want %v", m.External.Current.AverageValue, hpa.Status.CurrentReplicas, got, want)
		}
		return false, fmt.Sprintf("no current value of %s in the HPA's status: %+v", metric, hpa.Status.CurrentMetrics)
	})

	// 5 → 1 → 0: the HPA down to its minReplicas, then the scale loop after
	// the cooldown.
	src.drain(t)
	waitReplicas(1, 120*time.Second, "once drained the HPA brings the Deployment back to 1")
	waitReplicas(0, 120*time.Second, "after the cooldown the scale loop brings it to 0")
}

// burstScenario: a ScaledObject at the default polling interval (30 s) whose
// target runs one replica; then a burst, which the HPA shows while the
// ScaledObject stays unchanged. A poll that reads a changed value writes the
// status (at most every 30 s; the last write was the first poll's), so the
// value came to the HPA through the adapter reading the source on the HPA's
// request, not through a poll. When the ScaledObject changes first (a poll,
// say), which proves nothing, another burst follows.
func burstScenario(t *testing.T, cp *controlplane.ControlPlane, op *operatorproc.Process, ns string, src *rabbitSource) {
	ctx := t.Context()
	c := cp.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	deploy := worker(ns, nil)
	if err := c.Create(ctx, deploy); err != nil {
		t.Fatal(err)
	}
	trig := src.setup(t, c, ns)
	src.one(t) // active from the first poll
	so := &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker"},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef:  v1alpha1.ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: deploy.Name},
			MaxReplicaCount: ptr.To[int32](5),
			Triggers:        []v1alpha1.Trigger{trig},
		},
	}
	if err := c.Create(ctx, so); err != nil {
		t.Fatal(err)
	}
	if got := so.Spec.PollingIntervalDuration(); got != 30*time.Second {
		t.Fatalf("polling interval %s, want the default 30 s", got)
	}
	hpaValue := func(ctx context.Context) (float64, string, error) {
		var hpa autoscalingv2.HorizontalPodAutoscaler
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: so.HPAName()}, &hpa); err != nil {
			return 0, "", err
		}
		for _, m := range hpa.Status.CurrentMetrics {
			if m.Type == autoscalingv2.ExternalMetricSourceType && m.External != nil && m.External.Current.AverageValue != nil {
				// AverageValue: the HPA shows value / current replicas.
				n := float64(hpa.Status.CurrentReplicas)
				return m.External.Current.AverageValue.AsApproximateFloat64() * n, fmt.Sprintf("HPA average %s × %v replicas", m.External.Current.AverageValue, n), nil
			}
		}
		return 0, "", fmt.Errorf("no external metric in the HPA's status yet")
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 0.05 }
	operatorproc.Eventually(t, op, 90*time.Second, "the HPA shows 1 with one replica running", func(ctx context.Context) (bool, string) {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(deploy), &d); err != nil {
			return false, err.Error()
		}
		v, how, err := hpaValue(ctx)
		if err != nil {
			return false, err.Error()
		}
		return ptr.Deref(d.Spec.Replicas, 0) == 1 && near(v, 1), fmt.Sprintf("replicas %d, %s = %v", ptr.Deref(d.Spec.Replicas, 0), how, v)
	})

	want := 1.0
	for attempt := 1; ; attempt++ {
		var cur v1alpha1.ScaledObject
		if err := c.Get(ctx, client.ObjectKeyFromObject(so), &cur); err != nil {
			t.Fatal(err)
		}
		before := cur.ResourceVersion
		src.publish(t, 100)
		want += 100
		var changed bool
		operatorproc.Eventually(t, op, 60*time.Second, fmt.Sprintf("burst %d reaches the HPA", attempt), func(ctx context.Context) (bool, string) {
			// The ScaledObject first: a poll that read the burst wrote it.
			if err := c.Get(ctx, client.ObjectKeyFromObject(so), &cur); err != nil {
				return false, err.Error()
			}
			if cur.ResourceVersion != before {
				changed = true
				return true, "the ScaledObject changed"
			}
			v, how, err := hpaValue(ctx)
			if err != nil {
				return false, err.Error()
			}
			return near(v, want), fmt.Sprintf("%s = %v, want %v", how, v, want)
		})
		if !changed {
			return
		}
		if attempt == 3 {
			t.Fatalf("the ScaledObject changed before the HPA saw each of %d bursts: the HPA waits for the polls", attempt)
		}
		t.Logf("the ScaledObject changed before the HPA showed burst %d; another burst", attempt)
	}
}

// workerScaledObject scales deploy up to max replicas on triggers, polling
// every 5 s, with a 10 s cooldown and no HPA scale-down window, so that a
// scenario goes 0 → N → 0 in well under a minute.
func workerScaledObject(deploy *appsv1.Deployment, max int32, triggers ...v1alpha1.Trigger) *v1alpha1.ScaledObject {
	return &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: deploy.Namespace, Name: deploy.Name},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef:  v1alpha1.ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: deploy.Name},
			PollingInterval: ptr.To[int32](5),
			CooldownPeriod:  ptr.To[int32](10),
			MaxReplicaCount: ptr.To(max),
			Advanced: &v1alpha1.AdvancedConfig{HorizontalPodAutoscalerConfig: &v1alpha1.HorizontalPodAutoscalerConfig{
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)},
				},
			}},
			Triggers: triggers,
		},
	}
}

// worker is a Deployment "worker" at zero replicas whose one container
// asks for requests. Its pods never run by themselves: there is no
// scheduler and no kubelet.
func worker(ns string, requests corev1.ResourceList) *appsv1.Deployment {
	labels := map[string]string{"app": "worker"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "worker", Image: "registry.invalid/worker:1",
					Resources: corev1.ResourceRequirements{Requests: requests},
				}}},
			},
		},
	}
}

// readExternal reads an external metric through the API server, as the HPA
// does.
func readExternal(ctx context.Context, kc kubernetes.Interface, ns, metric, selector string) (*v1beta1.ExternalMetricValueList, error) {
	raw, err := kc.CoreV1().RESTClient().Get().AbsPath("/apis/external.metrics.k8s.io/v1beta1/namespaces", ns, metric).
		Param("labelSelector", selector).Timeout(10 * time.Second).DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var list v1beta1.ExternalMetricValueList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", raw, err)
	}
	return &list, nil
}

// scrapeCount reads one sample of the operator's metrics endpoint: the
// series name{result="<result>"}.
func scrapeCount(ctx context.Context, port int, name, result string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	prefix := fmt.Sprintf("%s{result=%q} ", name, result)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in the operator's metrics", strings.TrimSpace(prefix))
}

func isStatus(err error, code int32) bool {
	type status interface{ Status() metav1.Status }
	s, ok := err.(status)
	return ok && s.Status().Code == code
}

// getURL GETs url and returns its status code and body (at most 64 KiB).
func getURL(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), err
}
