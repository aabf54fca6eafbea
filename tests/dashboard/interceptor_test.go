// SPDX-License-Identifier: Apache-2.0

package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/operatorproc"
	"github.com/ebbscale/ebb/tests/promharness"
)

// interceptorRow is the dashboard row TestInterceptorRowAgainstARealPrometheus
// checks; TestDashboardAgainstARealPrometheusDuringAScalingRun (whose run has
// no interceptor) checks every other row.
const interceptorRow = "Interceptor"

// interceptorVariables are the template variables of the Interceptor row,
// checked by TestInterceptorRowAgainstARealPrometheus only.
var interceptorVariables = map[string]bool{"route": true}

const (
	icNamespace = "dash-ic"
	icToken     = "dash-ic-token-5e0b1c9a"
	// The static interceptor's routes (its --routes file).
	webRoute  = icNamespace + "/web"  // no Service: always ready
	coldRoute = icNamespace + "/cold" // gated by the Service cold, at zero
	// The routes the ScaledObjects publish to the cluster interceptor.
	servedRoute   = icNamespace + "/first/web"
	conflictRoute = icNamespace + "/second/web" // the same host as first
	invalidRoute  = icNamespace + "/broken/web" // a pathPrefix without /
)

// The Interceptor row against a real Prometheus scraping two real
// ebb-interceptor processes: one with a routes file (a route without a
// Service, always ready, and one gated by a Service with no ready endpoint),
// one with its routes from the ScaledObjects of a real API server, two of
// which it leaves out (a host and path prefix taken, keys that do not
// parse). Real requests go through: answered, one kept in flight, held
// while the Service is at zero, refused 503 because the hold queue is full
// and because the hold timed out, let through once the Service has ready
// endpoints. Then every query of every panel of the row is valid PromQL,
// returns data and, with every route selected, shows a value above zero
// during the run (the 503 panel for both reasons, the left-out panel for
// both problems); with each route the route variable lists, every query
// returns data; the variable lists the served routes and not the ones left
// out.
func TestInterceptorRowAgainstARealPrometheus(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dash := loadDashboard(t, filepath.Join(root, "deploy", "grafana", "ebb.json"))
	rowPanels := dash.panelsOfRow(interceptorRow)
	if len(rowPanels) == 0 {
		t.Fatalf("the dashboard has no row %q with panels", interceptorRow)
	}
	bin := buildInterceptor(t, root)
	cp := controlplane.Start(t)
	ctx := t.Context()
	c := cp.Client

	// The backend both interceptors proxy to: "ok", and on /slow "ok" once
	// released.
	release := make(chan struct{})
	var releaseOnce sync.Once
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })

	// The Services whose EndpointSlices gate routes; no slice yet: zero ready
	// endpoints (this control plane runs no EndpointSlice controller).
	svc := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: icNamespace, Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	}
	// Three ScaledObjects publish a route each for the cluster interceptor:
	// first's is served, second's is left out (first holds its host and
	// path prefix: first is older or, created in the same second, first by
	// name), broken's is left out (its pathPrefix does not parse; no
	// admission webhook runs here to refuse it).
	so := func(name string, md map[string]string) *v1alpha1.ScaledObject {
		meta := map[string]string{
			"interceptorURL": "http://ebb-interceptor-admin.ebb-system.svc:9090", "targetConcurrency": "10",
			"host": "shared.example", "service": "shared", "port": "80",
		}
		maps.Copy(meta, md)
		return &v1alpha1.ScaledObject{
			ObjectMeta: metav1.ObjectMeta{Namespace: icNamespace, Name: name},
			Spec: v1alpha1.ScaledObjectSpec{
				ScaleTargetRef: v1alpha1.ScaleTarget{Name: name},
				Triggers:       []v1alpha1.Trigger{{Type: "http", Name: "web", Metadata: meta}},
			},
		}
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: icNamespace}},
		svc("cold"), svc("shared"),
		so("first", nil), so("second", nil),
		so("broken", map[string]string{"host": "broken.example", "pathPrefix": "no-slash"}),
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	routesFile := filepath.Join(dir, "routes.json")
	routes, err := json.Marshal(map[string]any{"routes": []map[string]string{
		{"name": webRoute, "host": "web.example", "backend": backend.URL},
		{"name": coldRoute, "host": "cold.example", "backend": backend.URL, "namespace": icNamespace, "service": "cold"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{tokenFile: []byte(icToken + "\n"), routesFile: routes} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Static routes: one request held per route at most, held for 2 s.
	static := startInterceptor(t, bin, "static", "--routes", routesFile, "--token-file", tokenFile, "--kubeconfig", cp.Kubeconfig,
		"--hold-timeout", "2s", "--max-held-per-route", "1")
	// The routes' Service, pinned to the backend (no cluster DNS here).
	cluster := startInterceptor(t, bin, "cluster", "--kubeconfig", cp.Kubeconfig, "--namespace", icNamespace, "--token-file", tokenFile,
		"--resolve", "shared."+icNamespace+".svc.cluster.local:80="+strings.TrimPrefix(backend.URL, "http://"))
	prom := promharness.StartWith(t, []string{static.admin, cluster.admin}, promharness.WithWaitTimeout(90*time.Second))
	start := time.Now()
	// A scrape of both before any request: the counters' first samples are
	// 0, so their rates see every request.
	prom.WaitForQuery(t, `count(ebb_interceptor_requests_total{route=~"`+webRoute+`|`+coldRoute+`|`+servedRoute+`"} == 0)`, func(v float64) bool { return v == 3 })

	// Answered requests.
	for i := range 20 {
		if code, body, err := get(ctx, static.proxy, "web.example", "/"); err != nil || code != http.StatusOK || body != "ok" {
			t.Fatalf("request %d through the interceptor: %d %q %v", i, code, body, err)
		}
	}
	// One request in flight until the backend answers it.
	slow := make(chan string, 1)
	go func() {
		code, body, err := get(ctx, static.proxy, "web.example", "/slow")
		slow <- fmt.Sprint(code, " ", body, " ", err)
	}()
	prom.WaitForQuery(t, `sum(ebb_interceptor_requests_in_flight{route="`+webRoute+`"})`, func(v float64) bool { return v == 1 })
	releaseOnce.Do(func() { close(release) })
	if got := <-slow; got != "200 ok <nil>" {
		t.Errorf("the request in flight was answered %s", got)
	}

	// A client that keeps one request held on the route at zero: each is
	// held for the hold timeout and answered 503, until the route has a
	// ready endpoint and one goes through.
	type answer struct {
		code int
		body string
		err  error
	}
	kept := make(chan answer, 1)
	keeperDone := make(chan struct{})
	go func() {
		defer close(keeperDone)
		for {
			code, body, err := get(ctx, static.proxy, "cold.example", "/")
			if err != nil || code != http.StatusServiceUnavailable {
				kept <- answer{code, body, err}
				return
			}
		}
	}()
	t.Cleanup(func() { <-keeperDone }) // t.Context() ends before cleanups: its request ends
	prom.WaitForQuery(t, `sum(ebb_interceptor_requests_held{route="`+coldRoute+`"})`, func(v float64) bool { return v == 1 })

	// A second request while one is held: 503 at once, the queue is full.
	// (One that comes between two of the keeper's requests is held itself
	// and times out; the next one finds the keeper's request held.)
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body, err := get(ctx, static.proxy, "cold.example", "/")
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusServiceUnavailable && strings.Contains(body, "too many requests are waiting") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request refused for a full hold queue; last answer %d %q", code, body)
		}
	}
	for _, reason := range []string{"queue_full", "hold_timeout"} {
		prom.WaitForQuery(t, `sum(ebb_interceptor_requests_rejected_total{route="`+coldRoute+`", reason="`+reason+`"})`, func(v float64) bool { return v >= 1 })
	}

	// The Service gets two ready endpoints (and one not ready): the held
	// request goes through.
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: icNamespace, Name: "cold-x1", Labels: map[string]string{discoveryv1.LabelServiceName: "cold"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"192.0.2.10"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"192.0.2.11"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"192.0.2.12"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
		},
		Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}},
	}
	if err := c.Create(ctx, slice); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-kept:
		if a.err != nil || a.code != http.StatusOK || a.body != "ok" {
			t.Errorf("the held request was answered %d %q %v, want 200 ok", a.code, a.body, a.err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the held request was not answered once the Service had ready endpoints")
	}
	prom.WaitForQuery(t, `max(ebb_interceptor_ready_endpoints{route="`+coldRoute+`"})`, func(v float64) bool { return v == 2 })

	// The cluster interceptor serves first's route and leaves two out.
	prom.WaitForQuery(t, `count(ebb_interceptor_requests_total{route="`+servedRoute+`"})`, func(v float64) bool { return v == 1 })
	prom.WaitForQuery(t, `count(ebb_interceptor_route_left_out)`, func(v float64) bool { return v == 2 })
	// Rates need samples across their window: wait for that many scrapes.
	prom.WaitForQuery(t, `min(count_over_time(up[1m]))`, func(v float64) bool { return v >= rateWindowScrapes })
	end := time.Now()

	// What each query must show once, with every route selected, when it
	// keeps the label: a value above zero for each of these label values.
	shown := map[string]map[string][]string{
		"ebb_interceptor_requests_total":          {"route": {webRoute, coldRoute}},
		"ebb_interceptor_requests_in_flight":      {"route": {webRoute}},
		"ebb_interceptor_requests_held":           {"route": {coldRoute}},
		"ebb_interceptor_requests_rejected_total": {"route": {coldRoute}, "reason": {"queue_full", "hold_timeout"}},
		"ebb_interceptor_ready_endpoints":         {"route": {webRoute, coldRoute}},
		"ebb_interceptor_route_left_out":          {"route": {conflictRoute, invalidRoute}, "reason": {"RouteConflict", "RouteInvalid"}},
	}
	t.Run("with every route, every query of the row parses, returns data and shows the run", func(t *testing.T) {
		n := 0
		for _, p := range rowPanels {
			for _, tg := range p.Targets {
				n++
				expr := substitute(selectAll(tg.Expr, "route"), nil)
				series, err := queryRangeSeries(t.Context(), prom.URL(), expr, start, end)
				if err != nil {
					t.Errorf("panel %q, query %s: %v", p.Title, tg.RefID, err)
					continue
				}
				if len(series) == 0 {
					t.Errorf("panel %q, query %s returns no data: %s", p.Title, tg.RefID, expr)
					continue
				}
				top := math.Inf(-1)
				for _, s := range series {
					top = max(top, s.max)
				}
				if !(top > 0) {
					t.Errorf("panel %q, query %s never shows a value above 0 (max %g): %s", p.Title, tg.RefID, top, expr)
				}
				for metric, labels := range shown {
					if !strings.Contains(expr, metric) {
						continue
					}
					for label, values := range labels {
						for _, want := range values {
							if !showsAboveZero(series, label, want) {
								t.Errorf("panel %q, query %s shows no value above 0 for %s=%q: %s", p.Title, tg.RefID, label, want, expr)
							}
						}
					}
				}
			}
		}
		if n < 6 {
			t.Errorf("only %d queries in the row %q", n, interceptorRow)
		}
	})
	t.Run("the route variable lists the served routes, and with each every query returns data", func(t *testing.T) {
		var listed []string
		for _, v := range dash.Templating.List {
			if !interceptorVariables[v.Name] {
				continue
			}
			got, err := labelValues(t.Context(), prom.URL(), substitute(v.queryString(), nil))
			if err != nil {
				t.Fatalf("variable %s (%s): %v", v.Name, v.queryString(), err)
			}
			if v.Name == "route" {
				listed = got
			}
		}
		for _, want := range []string{webRoute, coldRoute, servedRoute} {
			if !slices.Contains(listed, want) {
				t.Errorf("the route variable lists %v, without %s", listed, want)
			}
		}
		for _, out := range []string{conflictRoute, invalidRoute} {
			if slices.Contains(listed, out) {
				t.Errorf("the route variable lists %s, a route left out", out)
			}
		}
		for _, route := range listed {
			for _, p := range rowPanels {
				for _, tg := range p.Targets {
					expr := substitute(tg.Expr, map[string]string{"route": route})
					n, err := queryRange(t.Context(), prom.URL(), expr, start, end)
					switch {
					case err != nil:
						t.Errorf("route %s, panel %q, query %s: %v", route, p.Title, tg.RefID, err)
					case n == 0:
						t.Errorf("route %s, panel %q, query %s returns no data: %s", route, p.Title, tg.RefID, expr)
					}
				}
			}
		}
	})
	t.Run("the admin endpoint's metrics carry no token", func(t *testing.T) {
		for _, ic := range []*interceptorProc{static, cluster} {
			if body := scrapeAddr(t, ic.admin); strings.Contains(body, icToken) {
				t.Errorf("the %s interceptor's /metrics shows the token", ic.name)
			}
		}
	})
}

// Every panel and every template variable is checked by exactly one of the
// two tests against Prometheus: the Interceptor row and its variables by
// TestInterceptorRowAgainstARealPrometheus, the rest by
// TestDashboardAgainstARealPrometheusDuringAScalingRun, whose run can give
// data to the operator's series only.
func TestEveryPanelIsCheckedByOneTest(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dash := loadDashboard(t, filepath.Join(root, "deploy", "grafana", "ebb.json"))
	byID := map[int]string{}
	for test, panels := range map[string][]panel{
		"the interceptor's test": dash.panelsOfRow(interceptorRow),
		"the operator's test":    dash.panelsOutsideRow(interceptorRow),
	} {
		if len(panels) == 0 {
			t.Errorf("%s checks no panel", test)
		}
		for _, p := range panels {
			if other, ok := byID[p.ID]; ok {
				t.Errorf("panel %d %q is checked by %s and by %s", p.ID, p.Title, other, test)
			}
			byID[p.ID] = test
			interceptorSeries := test == "the interceptor's test"
			for _, tg := range p.Targets {
				if strings.Contains(tg.Expr, "ebb_interceptor_") != interceptorSeries {
					t.Errorf("panel %q (checked by %s), query %s: %s; the Interceptor row queries ebb_interceptor_ series only, the other rows none", p.Title, test, tg.RefID, tg.Expr)
				}
			}
		}
	}
	ids := map[int]bool{}
	for _, p := range dash.panels() {
		if ids[p.ID] {
			t.Errorf("two panels with id %d", p.ID)
		}
		ids[p.ID] = true
		if _, ok := byID[p.ID]; !ok {
			t.Errorf("panel %d %q is checked by neither test", p.ID, p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	if len(byID) != len(dash.panels()) {
		t.Errorf("the tests check %d panels, the dashboard has %d", len(byID), len(dash.panels()))
	}
	names := map[string]bool{}
	for _, v := range dash.Templating.List {
		names[v.Name] = true
		if v.Type != "query" {
			continue
		}
		if uses := strings.Contains(v.queryString(), "ebb_interceptor_"); uses != interceptorVariables[v.Name] {
			t.Errorf("variable %s (%s): queries the interceptor's series %v, checked by the interceptor's test %v", v.Name, v.queryString(), uses, interceptorVariables[v.Name])
		}
	}
	for name := range interceptorVariables {
		if !names[name] {
			t.Errorf("no template variable %s", name)
		}
	}
}

// selectAll sets a multi-value variable to Grafana's "All" (its allValue
// .*), unquoted.
func selectAll(expr, name string) string {
	return strings.NewReplacer("${"+name+"}", ".*", "$"+name, ".*").Replace(expr)
}

// rangeSeries is one series of a range query's answer.
type rangeSeries struct {
	labels map[string]string
	max    float64 // of its values; -Inf if it has none but NaN
}

// queryRangeSeries runs a range query over [from, to] at 1 s steps and
// returns its series.
func queryRangeSeries(ctx context.Context, base, expr string, from, to time.Time) ([]rangeSeries, error) {
	v := url.Values{"query": {expr}, "start": {strconv.FormatInt(from.Unix(), 10)}, "end": {strconv.FormatInt(to.Unix()+1, 10)}, "step": {"1"}}
	data, err := promGet(ctx, base+"/api/v1/query_range?"+v.Encode())
	if err != nil {
		return nil, err
	}
	var m struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	var out []rangeSeries
	for _, r := range m.Result {
		if len(r.Values) == 0 {
			continue
		}
		s := rangeSeries{labels: r.Metric, max: math.Inf(-1)}
		for _, pair := range r.Values {
			str, _ := pair[1].(string)
			f, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return nil, fmt.Errorf("sample %v: %w", pair, err)
			}
			if !math.IsNaN(f) {
				s.max = max(s.max, f)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// showsAboveZero says whether a series labelled label=value is above zero at
// some step. A query without that label (aggregated away) cannot show it.
func showsAboveZero(series []rangeSeries, label, value string) bool {
	for _, s := range series {
		if s.labels[label] == value && s.max > 0 {
			return true
		}
	}
	return false
}

// get sends GET path to the proxy with the Host header host and returns the
// answer's status and trimmed body.
func get(ctx context.Context, proxy, host, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+proxy+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), err
}

func scrapeAddr(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// buildInterceptor builds cmd/ebb-interceptor into a temporary folder.
func buildInterceptor(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ebb-interceptor")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ebb-interceptor")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ebb-interceptor: %v\n%s", err, out)
	}
	return bin
}

// interceptorProc is an ebb-interceptor child process in its own process
// group.
type interceptorProc struct {
	name         string
	proxy, admin string // host:port on 127.0.0.1
	cmd          *exec.Cmd
	logPath      string
	exited       chan struct{}
	waitErr      error // set before exited is closed
}

// startInterceptor runs the binary with args on free loopback ports (and a
// 5 s shutdown timeout), waits until its admin endpoint answers /healthz,
// and stops it when the test ends: SIGTERM, then SIGKILL to its group after
// 30 s. It must exit cleanly; its log is shown if the test failed.
func startInterceptor(t *testing.T, bin, name string, args ...string) *interceptorProc {
	t.Helper()
	p := &interceptorProc{
		name:    name,
		proxy:   "127.0.0.1:" + strconv.Itoa(operatorproc.FreePort(t)),
		admin:   "127.0.0.1:" + strconv.Itoa(operatorproc.FreePort(t)),
		logPath: filepath.Join(t.TempDir(), "ebb-interceptor-"+name+".log"),
		exited:  make(chan struct{}),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child holds its own descriptor
	p.cmd = exec.Command(bin, append([]string{"--proxy-address=" + p.proxy, "--admin-address=" + p.admin, "--shutdown-timeout=5s"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// The kernel sends Pdeathsig when the thread that forked the child
	// ends: that thread stays in Wait for the child's life.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		t.Fatalf("start ebb-interceptor (%s): %v", name, err)
	}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			log, _ := os.ReadFile(p.logPath)
			t.Logf("ebb-interceptor (%s) log:\n%s", name, log)
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.exited:
			log, _ := os.ReadFile(p.logPath)
			t.Fatalf("ebb-interceptor (%s) exited: %v\n%s", name, p.waitErr, log)
		default:
		}
		if res, err := http.Get("http://" + p.admin + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ebb-interceptor (%s) does not answer /healthz on %s", name, p.admin)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *interceptorProc) stop(t *testing.T) {
	pgid := p.cmd.Process.Pid
	select {
	case <-p.exited:
		t.Errorf("ebb-interceptor (%s) exited before the test ended: %v", p.name, p.waitErr)
	default:
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.exited:
			if p.waitErr != nil {
				t.Errorf("ebb-interceptor (%s) exited with %v after SIGTERM", p.name, p.waitErr)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("ebb-interceptor (%s) did not stop within 30 s of SIGTERM; killing it", p.name)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.exited
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // leftovers of the group, if any
}
