// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/operatorproc"
)

// The operator's own surface as the chart's defaults configure it
// (docs/security.md, "The operator's own surface"): /metrics answers only a
// caller whose token the API server authenticates and who may GET
// /metrics (the chart's ClusterRole ebb-metrics-reader), and the webhook
// offers HTTP/1.1 alone.
func TestTheOperatorsMetricsNeedAuthorizationAndItsWebhookSpeaksHTTP1(t *testing.T) {
	bin := operatorproc.Build(t, "")
	cp := controlplane.Start(t)
	id := chartrbac.Operator(t, cp, chartrbac.Options{Namespace: operatorproc.Namespace})
	metricsPort, webhookPort := operatorproc.FreePort(t), operatorproc.FreePort(t)
	op := operatorproc.Start(t, bin, operatorproc.Options{
		Kubeconfig: id.Kubeconfig, AdapterPort: operatorproc.FreePort(t), MetricsPort: metricsPort,
		Args: []string{
			"--adapter=false", "--metrics-secure",
			// The webhook with a certificate the operator makes (no
			// webhook configuration to keep in step here).
			"--webhook", "--webhook-host=127.0.0.1", "--webhook-port=" + strconv.Itoa(webhookPort), "--webhook-configuration=",
		},
	})

	// A scraper's ServiceAccount and its token, as Prometheus in a pod has.
	ctx := t.Context()
	kc := kubernetes.NewForConfigOrDie(cp.Config)
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().ServiceAccounts("monitoring").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := kc.CoreV1().ServiceAccounts("monitoring").CreateToken(ctx, "prometheus",
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := tr.Status.Token

	metricsURL := fmt.Sprintf("https://127.0.0.1:%d/metrics", metricsPort)
	t.Run("without a token: 401", func(t *testing.T) {
		operatorproc.Eventually(t, op, 60*time.Second, "/metrics answers 401 without a token", func(ctx context.Context) (bool, string) {
			code, body, err := getTLS(ctx, metricsURL, "")
			if err != nil {
				return false, err.Error()
			}
			return code == http.StatusUnauthorized, fmt.Sprintf("%d %s", code, body)
		})
	})
	t.Run("a token not allowed to GET /metrics: 403", func(t *testing.T) {
		code, body, err := getTLS(ctx, metricsURL, token)
		if err != nil || code != http.StatusForbidden {
			t.Fatalf("GET /metrics as monitoring/prometheus, not bound: %d %q %v, want 403", code, body, err)
		}
	})
	t.Run("bound to ebb-metrics-reader: the metrics", func(t *testing.T) {
		// chartrbac suffixes the chart's cluster-scoped roles with the
		// release namespace.
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "prometheus-reads-ebb"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "ebb-metrics-reader:" + operatorproc.Namespace},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "monitoring", Name: "prometheus"}},
		}
		if _, err := kc.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The operator caches a denial for 30 s (controller-runtime's
		// filter), so this waits on the condition.
		operatorproc.Eventually(t, op, 90*time.Second, "/metrics answers 200 with Ebb's metrics", func(ctx context.Context) (bool, string) {
			code, body, err := getTLS(ctx, metricsURL, token)
			if err != nil {
				return false, err.Error()
			}
			return code == http.StatusOK && strings.Contains(body, "# TYPE ebb_build_info gauge"), fmt.Sprintf("%d %.200s", code, body)
		})
	})
	t.Run("the interceptor's /metrics: the same check; /healthz open", func(t *testing.T) {
		admin := startInterceptor(t, cp)
		operatorproc.Eventually(t, nil, 60*time.Second, "the interceptor's /healthz", func(ctx context.Context) (bool, string) {
			code, body, err := getURL(ctx, admin+"/healthz")
			if err != nil {
				return false, err.Error()
			}
			return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
		})
		if code, body, err := getURL(ctx, admin+"/metrics"); err != nil || code != http.StatusUnauthorized {
			t.Errorf("the interceptor's /metrics without a token: %d %q %v, want 401", code, body, err)
		}
		if code, body, err := getURL(ctx, admin+"/v1/routes"); err != nil || code != http.StatusUnauthorized {
			t.Errorf("the interceptor's /v1/routes without its admin token: %d %q %v, want 401", code, body, err)
		}
		// The scraper is bound to ebb-metrics-reader (above). Without
		// routes the interceptor has no series yet: the body may be empty.
		if code, body, err := getTLS(ctx, admin+"/metrics", token); err != nil || code != http.StatusOK {
			t.Errorf("the interceptor's /metrics for a bound scraper: %d %.200q %v, want 200", code, body, err)
		}
		// A token the API server does not accept is refused
		// (controller-runtime's filter answers 500 when the TokenReview
		// reports an error, 401 when it says unauthenticated).
		if code, body, err := getTLS(ctx, admin+"/metrics", "not-a-token"); err != nil || (code != http.StatusUnauthorized && code != http.StatusInternalServerError) || strings.Contains(body, "ebb_") {
			t.Errorf("the interceptor's /metrics with a bad token: %d %.200q %v, want it refused", code, body, err)
		}
	})
	t.Run("the webhook and the metrics endpoint offer HTTP/1.1 only", func(t *testing.T) {
		for what, port := range map[string]int{"webhook": webhookPort, "metrics": metricsPort} {
			var proto string
			operatorproc.Eventually(t, op, 60*time.Second, what+" accepts TLS", func(ctx context.Context) (bool, string) {
				d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}}
				c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err != nil {
					return false, err.Error()
				}
				defer c.Close()
				proto = c.(*tls.Conn).ConnectionState().NegotiatedProtocol
				return true, ""
			})
			if proto != "http/1.1" {
				t.Errorf("%s: ALPN chose %q for a client offering h2 and http/1.1, want http/1.1", what, proto)
			}
		}
	})
}

// startInterceptor runs ebb-interceptor as the chart's interceptor
// ServiceAccount (under the chart's RBAC) with no routes and
// --metrics-secure, until the test ends, and returns its admin endpoint's
// base URL.
func startInterceptor(t *testing.T, cp *controlplane.ControlPlane) string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ebb-interceptor")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ebb-interceptor")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ebb-interceptor: %v\n%s", err, out)
	}
	id := chartrbac.Interceptor(t, cp, chartrbac.Options{Namespace: operatorproc.Namespace})
	routes, token := filepath.Join(dir, "routes.json"), filepath.Join(dir, "token")
	if err := os.WriteFile(routes, []byte(`{"routes": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte("admin-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	adminPort := operatorproc.FreePort(t)
	cmd := exec.Command(bin, "--routes="+routes, "--token-file="+token, "--kubeconfig="+id.Kubeconfig, "--metrics-secure",
		"--proxy-address=127.0.0.1:"+strconv.Itoa(operatorproc.FreePort(t)), "--admin-address=127.0.0.1:"+strconv.Itoa(adminPort))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("ebb-interceptor's log:\n%s", out.String())
		}
	})
	return "http://127.0.0.1:" + strconv.Itoa(adminPort)
}

// getTLS GETs url (over TLS without checking the server's self-signed
// certificate, or plain HTTP), with a bearer token when one is given.
func getTLS(ctx context.Context, url, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}
