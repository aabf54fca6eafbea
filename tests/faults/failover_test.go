// SPDX-License-Identifier: Apache-2.0

package faults_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/operatorproc"
)

// Leader failover with two replicas, as the chart runs them: both serve the
// metrics adapter (the HPA's reads go to either), one leads. The leader is
// SIGKILLed: the follower's adapter keeps serving the HPA right away, and
// the follower leads once the lease expires and takes over the scale loop.
func TestLeaderFailover(t *testing.T) {
	s := newScenario(t)
	op1 := s.startOperator()
	s.ready(op1)
	op2 := s.startOperator()
	q := newRabbitQueue(t)
	s.deployment("worker", 0)
	s.create(s.scaledObject("worker", "worker", 3, q.trigger(s)))
	q.publish(30)
	s.waitReplicas("worker", 3, boundScale, "30 messages: the HPA scales to 3")
	w := s.watchReplicas("worker", 3)

	so, err := s.get(t.Context(), "worker")
	if err != nil || len(so.Status.ExternalMetricNames) != 1 {
		t.Fatalf("external metric names %v (%v)", so.Status.ExternalMetricNames, err)
	}
	metric := so.Status.ExternalMetricNames[0]
	for i, op := range []*operator{op1, op2} {
		s.within(30*time.Second, fmt.Sprintf("replica %d's adapter serves the metric", i+1), func(ctx context.Context) (bool, string) {
			v, err := s.readAdapter(ctx, op.adapterPort, metric, "worker")
			if err != nil {
				return false, err.Error()
			}
			return v == 30, fmt.Sprintf("value %v, want 30", v)
		})
	}
	if v, _ := scrape(t.Context(), op2.metricsPort, `leader_election_master_status{name="`+leaseName+`"}`); v != 0 {
		t.Fatalf("replica 2 leads too (%v)", v)
	}

	op1.Kill()
	killed := time.Now()
	s.frontToLiveOperators()
	q.publish(20)
	d := s.waitReplicas("worker", 5, boundScale, "the follower's adapter serves the HPA: new work scales it to 5")
	figure(t, "leader SIGKILLed → the HPA follows new work through the follower's adapter (3 → 5)", d, boundScale)
	followerServed := time.Now()
	s.waitLeader(op2, 60*time.Second)
	led := time.Now()
	figure(t, "leader SIGKILLed → the follower leads", led.Sub(killed), 60*time.Second)
	if followerServed.Before(led) {
		t.Logf("the HPA scaled %.1f s before the follower led", led.Sub(followerServed).Seconds())
	}
	baseline := s.goroutines(op2)
	d = s.waitStatus("worker", boundBack, "the new leader writes status", func(so *v1alpha1.ScaledObject) (bool, string) {
		return lastRead(so).After(led) && so.Status.Triggers[0].Value == "50", fmt.Sprintf("last read %s", lastRead(so))
	})
	figure(t, "the follower leads → its first status write", d, boundBack)
	w.check()
	w.hold(0)
	q.purge()
	s.waitReplicas("worker", 0, boundScale, "drained: the new leader brings it back to zero")
	s.noLeaks(op2, baseline, q.Proxy)
}

// readAdapter reads an external metric straight from one replica's adapter,
// as the aggregator does: TLS verified against the operator's CA (kept in
// its Secret), the front-proxy client certificate, and the user in headers.
func (s *scenario) readAdapter(ctx context.Context, port int, metric, so string) (float64, error) {
	var sec corev1.Secret
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: operatorproc.Namespace, Name: "ebb-metrics-adapter-ca"}, &sec); err != nil {
		return 0, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(sec.Data["ca.crt"]) {
		return 0, fmt.Errorf("no CA in the Secret")
	}
	front, err := tls.LoadX509KeyPair(shared.cp.FrontProxy.ClientCertFile, shared.cp.FrontProxy.ClientKeyFile)
	if err != nil {
		return 0, err
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{front}, MinVersion: tls.VersionTLS12,
		ServerName: operatorproc.AdapterService + "." + operatorproc.Namespace + ".svc",
	}}
	defer tr.CloseIdleConnections()
	u := fmt.Sprintf("https://127.0.0.1:%d/apis/external.metrics.k8s.io/v1beta1/namespaces/%s/%s?labelSelector=%s",
		port, s.ns, metric, url.QueryEscape(v1alpha1.LabelScaledObject+"="+so))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Remote-User", "admin")
	req.Header.Set("X-Remote-Group", "system:masters")
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", res.Status, body)
	}
	var list v1beta1.ExternalMetricValueList
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, err
	}
	if len(list.Items) != 1 {
		return 0, fmt.Errorf("%d values", len(list.Items))
	}
	return list.Items[0].Value.AsApproximateFloat64(), nil
}
