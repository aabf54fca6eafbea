// SPDX-License-Identifier: Apache-2.0

package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/helm"
	"github.com/ebbscale/ebb/tests/operatorproc"
	"github.com/ebbscale/ebb/tests/promharness"
)

const (
	operatorNamespace = operatorproc.Namespace
	rabbitURL         = "amqp://guest:guest@127.0.0.1:5672/"
	testNamespace     = "dash"
	// rateWindow stands for $__rate_interval: several 1 s scrapes.
	rateWindow        = "10s"
	rateWindowScrapes = 12
	soName            = "worker"
	triggerName       = "orders"
)

// The dashboard against a real Prometheus scraping the operator during a
// scaling run: 0 → 1 by the scale loop, 1 → 5 by the real HPA reading the
// adapter. The operator runs leader-elected as the Helm chart's service
// account with exactly the chart's RBAC, so the run also proves that RBAC
// is enough. Every panel's every query is valid PromQL and returns data; the
// template variables list the test's namespace, ScaledObject and trigger.
// The operator's endpoint itself serves Ebb's series with bounded labels and
// no credential, and drops a deleted ScaledObject's series.
func TestDashboardAgainstARealPrometheusDuringAScalingRun(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dash := loadDashboard(t, filepath.Join(root, "deploy", "grafana", "ebb.json"))
	bin := operatorproc.Build(t, "-X main.version=v0.0.0-dashboard-test")
	cp := controlplane.Start(t, controlplane.WithControllerManager(), controlplane.WithAggregator())
	adapterPort, metricsPort := operatorproc.FreePort(t), operatorproc.FreePort(t)
	operatorproc.Register(t, cp.Client, adapterPort)
	kubeconfig := asChartServiceAccount(t, cp, root)
	op := operatorproc.Start(t, bin, operatorproc.Options{Kubeconfig: kubeconfig, AdapterPort: adapterPort, MetricsPort: metricsPort, Args: []string{"--leader-elect"}})
	prom := promharness.Start(t, fmt.Sprintf("127.0.0.1:%d", metricsPort))
	start := time.Now()

	q := newQueue(t)
	c := cp.Client
	ctx := t.Context()
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: "rabbitmq"}, StringData: map[string]string{"host": rabbitURL}},
		&v1alpha1.TriggerAuthentication{ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: "rabbitmq"},
			Spec: v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{{Parameter: "host", Name: "rabbitmq", Key: "host"}}}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: "worker"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "worker"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "worker"}},
					// Never runs: there is no scheduler and no kubelet.
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "registry.invalid/worker:1"}}},
				},
			},
		},
		&v1alpha1.ScaledObject{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: soName},
			Spec: v1alpha1.ScaledObjectSpec{
				ScaleTargetRef:  v1alpha1.ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: "worker"},
				PollingInterval: ptr.To[int32](2),
				MaxReplicaCount: ptr.To[int32](5),
				Advanced: &v1alpha1.AdvancedConfig{HorizontalPodAutoscalerConfig: &v1alpha1.HorizontalPodAutoscalerConfig{
					Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)}},
				}},
				Triggers: []v1alpha1.Trigger{{
					Name: triggerName, Type: "rabbitmq",
					Metadata:          map[string]string{"queueName": q.name, "mode": "QueueLength", "value": "10"},
					AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "rabbitmq"},
				}},
			},
		},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}

	replicas := func(want int32, why string) {
		t.Helper()
		operatorproc.Eventually(t, op, 120*time.Second, why, func(ctx context.Context) (bool, string) {
			var d appsv1.Deployment
			if err := c.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: "worker"}, &d); err != nil {
				return false, err.Error()
			}
			return ptr.Deref(d.Spec.Replicas, -1) == want, fmt.Sprintf("replicas %d, want %d", ptr.Deref(d.Spec.Replicas, -1), want)
		})
	}
	q.publish(t, 1)
	replicas(1, "one message brings the Deployment from 0 to 1 (the scale loop)")
	q.publish(t, 100)
	replicas(5, "101 messages bring it to 5 (the HPA, reading the adapter)")

	// The panels need the decision, the adapter's answers and a couple of
	// reads in Prometheus.
	prom.WaitForQuery(t, `sum(ebb_scale_decisions_total{namespace="dash"})`, func(v float64) bool { return v >= 1 })
	prom.WaitForQuery(t, `sum(ebb_adapter_request_duration_seconds_count{result="ok"})`, func(v float64) bool { return v >= 1 })
	prom.WaitForQuery(t, `max(ebb_scaledobject_desired_replicas{namespace="dash"})`, func(v float64) bool { return v == 5 })
	prom.WaitForQuery(t, `max(ebb_trigger_value{namespace="dash"})`, func(v float64) bool { return v == 101 })
	// Rates need samples across their window: wait for that many scrapes.
	prom.WaitForQuery(t, `count_over_time(up[1m])`, func(v float64) bool { return v >= rateWindowScrapes })

	vars := map[string]string{"namespace": testNamespace, "scaledobject": soName, "trigger": triggerName}
	// The Interceptor row and its route variable are left to
	// TestInterceptorRowAgainstARealPrometheus: this run has no interceptor.
	// TestEveryPanelIsCheckedByOneTest keeps the split whole.
	t.Run("every panel's every query parses and returns data", func(t *testing.T) {
		n := 0
		for _, p := range dash.panelsOutsideRow(interceptorRow) {
			for _, tg := range p.Targets {
				n++
				expr := substitute(tg.Expr, vars)
				res, err := queryRange(t.Context(), prom.URL(), expr, start, time.Now())
				if err != nil {
					t.Errorf("panel %q, query %s: %v", p.Title, tg.RefID, err)
					continue
				}
				if res == 0 {
					n, _ := queryRange(t.Context(), prom.URL(), "count_over_time(ebb_build_info[1m])", start, time.Now())
					t.Errorf("panel %q, query %s returns no data: %s (scrapes %d)", p.Title, tg.RefID, expr, n)
				}
			}
		}
		if n < 10 {
			t.Errorf("only %d queries in the dashboard", n)
		}
	})
	t.Run("the template variables list the test's namespace, ScaledObject and trigger", func(t *testing.T) {
		for _, v := range dash.Templating.List {
			if v.Type != "query" || interceptorVariables[v.Name] {
				continue
			}
			q := v.queryString()
			got, err := labelValues(t.Context(), prom.URL(), substitute(q, vars))
			if err != nil {
				t.Errorf("variable %s (%s): %v", v.Name, q, err)
				continue
			}
			want := vars[v.Name]
			found := false
			for _, g := range got {
				found = found || g == want
			}
			if !found {
				t.Errorf("variable %s (%s) = %v, want %q among them", v.Name, q, got, want)
			}
		}
	})
	t.Run("the operator's endpoint serves Ebb's series with bounded labels and no credential", func(t *testing.T) {
		body := scrape(t, metricsPort)
		for _, want := range []string{
			`ebb_trigger_value{namespace="dash",scaledobject="worker",trigger="orders",type="rabbitmq"} 101`,
			`ebb_trigger_target{namespace="dash",scaledobject="worker",trigger="orders",type="rabbitmq"} 10`,
			`ebb_trigger_active{namespace="dash",scaledobject="worker",trigger="orders",type="rabbitmq"} 1`,
			`ebb_trigger_read_errors_total{namespace="dash",scaledobject="worker",trigger="orders",type="rabbitmq"} 0`,
			`ebb_scale_decisions_total{direction="up",namespace="dash",reason="ScaledFromZero",scaledobject="worker"} 1`,
			`ebb_scaledobjects{state="ready"} 1`,
			`ebb_scaledobjects{state="active"} 1`,
			`ebb_scaledobjects{state="fallback"} 0`,
			`ebb_scaledobject_desired_replicas{namespace="dash",scaledobject="worker"} 5`,
			`ebb_trigger_read_duration_seconds_count{namespace="dash",scaledobject="worker",trigger="orders",type="rabbitmq"}`,
			`ebb_build_info{goversion="go`,
			`controller_runtime_reconcile_time_seconds_count{controller="scaledobject"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("the endpoint lacks %s", want)
			}
		}
		// Sample values are left out: a number such as 1.5672e+07 is no
		// leaked port.
		var text strings.Builder
		for _, line := range strings.Split(body, "\n") {
			if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") {
				line = line[:i]
			}
			text.WriteString(line + "\n")
		}
		for _, secret := range []string{"guest", "amqp://", "5672", q.name} {
			if strings.Contains(text.String(), secret) {
				t.Errorf("the endpoint's series or help texts contain %q", secret)
			}
		}
	})
	t.Run("a deleted ScaledObject's series go", func(t *testing.T) {
		if err := c.Delete(ctx, &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: soName}}); err != nil {
			t.Fatal(err)
		}
		operatorproc.Eventually(t, op, 60*time.Second, "the ScaledObject's series are deleted", func(context.Context) (bool, string) {
			body := scrape(t, metricsPort)
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, "ebb_") && strings.Contains(line, `scaledobject="worker"`) {
					return false, "still served: " + line
				}
			}
			return true, ""
		})
	})
}

// dashboard is the part of Grafana's dashboard model the test reads.
type dashboard struct {
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	ID      int     `json:"id"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

type variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

// queryString is a query variable's query, in either of Grafana's forms (a
// string, or an object with a query field).
func (v variable) queryString() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

func (d *dashboard) panels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// row is a dashboard row and the panels in it.
type row struct {
	title  string
	panels []panel
}

// rows groups the panels by row as Grafana lays them out: an open row holds
// the panels after it up to the next row, a collapsed one the panels nested
// in it. Panels above the first row are in a row titled "".
func (d *dashboard) rows() []row {
	out := []row{{}}
	for _, p := range d.Panels {
		if p.Type != "row" {
			out[len(out)-1].panels = append(out[len(out)-1].panels, p)
			continue
		}
		out = append(out, row{title: p.Title, panels: append([]panel(nil), p.Panels...)})
	}
	if len(out[0].panels) == 0 {
		out = out[1:]
	}
	return out
}

// panelsOfRow are the panels of the rows titled title.
func (d *dashboard) panelsOfRow(title string) []panel {
	var out []panel
	for _, r := range d.rows() {
		if r.title == title {
			out = append(out, r.panels...)
		}
	}
	return out
}

// panelsOutsideRow are the panels of every row but those titled title.
func (d *dashboard) panelsOutsideRow(title string) []panel {
	var out []panel
	for _, r := range d.rows() {
		if r.title != title {
			out = append(out, r.panels...)
		}
	}
	return out
}

func loadDashboard(t *testing.T, path string) *dashboard {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.Title == "" || d.SchemaVersion < 39 {
		t.Fatalf("%s: title %q, schemaVersion %d: not a current Grafana dashboard", path, d.Title, d.SchemaVersion)
	}
	names := map[string]bool{}
	for _, v := range d.Templating.List {
		names[v.Name] = true
	}
	for _, want := range []string{"datasource", "namespace", "scaledobject", "trigger"} {
		if !names[want] {
			t.Errorf("no template variable %s", want)
		}
	}
	return &d
}

// substitute fills Grafana's variables as a dashboard with the test's
// selection would: each variable by its value, $__rate_interval by a window
// that holds several 1 s scrapes.
func substitute(expr string, vars map[string]string) string {
	expr = strings.ReplaceAll(expr, "$__rate_interval", rateWindow)
	for k, v := range vars {
		expr = strings.ReplaceAll(expr, "${"+k+"}", regexp.QuoteMeta(v))
		expr = strings.ReplaceAll(expr, "$"+k, regexp.QuoteMeta(v))
	}
	return expr
}

type promResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

func promGet(ctx context.Context, u string) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	var pr promResponse
	if err := json.Unmarshal(body, &pr); err != nil {
		return nil, fmt.Errorf("%s: %s", res.Status, body)
	}
	if pr.Status != "success" {
		return nil, fmt.Errorf("%s: %s", pr.ErrorType, pr.Error)
	}
	return pr.Data, nil
}

// queryRange runs a range query over the run (Prometheus parses it; a bad
// query is an error) and returns the number of samples.
func queryRange(ctx context.Context, base, expr string, from, to time.Time) (int, error) {
	v := url.Values{"query": {expr}, "start": {strconv.FormatInt(from.Unix(), 10)}, "end": {strconv.FormatInt(to.Unix()+1, 10)}, "step": {"1"}}
	data, err := promGet(ctx, base+"/api/v1/query_range?"+v.Encode())
	if err != nil {
		return 0, err
	}
	var m struct {
		Result []struct {
			Values [][2]any `json:"values"`
		} `json:"result"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range m.Result {
		n += len(r.Values)
	}
	return n, nil
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// labelValues answers Grafana's label_values(selector, label) through
// Prometheus's label values API, as Grafana's Prometheus data source does.
func labelValues(ctx context.Context, base, q string) ([]string, error) {
	m := labelValuesRE.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return nil, fmt.Errorf("not a label_values(selector, label) query")
	}
	v := url.Values{"match[]": {m[1]}}
	data, err := promGet(ctx, base+"/api/v1/label/"+m[2]+"/values?"+v.Encode())
	if err != nil {
		return nil, err
	}
	var out []string
	return out, json.Unmarshal(data, &out)
}

func scrape(t *testing.T, port int) string {
	t.Helper()
	res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatalf("scrape the operator: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// queue is a queue unique to the test on the machine's RabbitMQ.
type queue struct {
	ch   *amqp.Channel
	name string
}

func newQueue(t *testing.T) *queue {
	t.Helper()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		t.Fatalf("RabbitMQ at 127.0.0.1:5672 (see tests/services.sh): %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q := &queue{ch: ch, name: fmt.Sprintf("ebb-dash-%d", time.Now().UnixNano())}
	if _, err := ch.QueueDeclare(q.name, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	return q
}

func (q *queue) publish(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		if err := q.ch.PublishWithContext(t.Context(), "", q.name, false, false, amqp.Publishing{Body: fmt.Appendf(nil, "job %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// asChartServiceAccount applies the RBAC objects of the Helm chart (default
// values) and returns a kubeconfig that acts as the chart's service account.
func asChartServiceAccount(t *testing.T, cp *controlplane.ControlPlane, root string) string {
	t.Helper()
	c, err := helm.Load(filepath.Join(root, "deploy", "helm", "ebb"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := helm.Render(c, operatorNamespace, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range r.Objects {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
		default:
			continue
		}
		data, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		if err := cp.Client.Patch(t.Context(), o.DeepCopy(), client.RawPatch(types.ApplyPatchType, data), client.FieldOwner("dashboard-test"), client.ForceOwnership); err != nil {
			t.Fatalf("apply the chart's %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		n++
	}
	if n < 5 {
		t.Fatalf("only %d RBAC objects in the chart", n)
	}
	cfg, err := clientcmd.LoadFromFile(cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	sa := "system:serviceaccount:" + operatorNamespace + ":ebb-operator"
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = sa
		ai.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"}
	}
	path := filepath.Join(t.TempDir(), "ebb-operator.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	// The kubeconfig acts as the service account: it may not list Secrets.
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := client.New(rc, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.List(t.Context(), &corev1.SecretList{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing Secrets as %s: %v, want Forbidden", sa, err)
	}
	return path
}
