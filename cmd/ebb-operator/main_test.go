// SPDX-License-Identifier: Apache-2.0

package main

import (
	"crypto/tls"
	"io"
	"slices"
	"testing"
	"time"
)

// Without flags the binary keeps its open defaults (the tests and the demo
// run it so); the chart sets the secure ones (tests/helm checks the chart's
// arguments).
func TestTheSurfaceFlags(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.metricsSecure || c.enableHTTP2 || !c.scaledJobs {
		t.Errorf("defaults: metrics-secure %v, enable-http2 %v, scaled-jobs %v; want false, false, true", c.metricsSecure, c.enableHTTP2, c.scaledJobs)
	}
	if o := metricsOptions(c); o.SecureServing || o.FilterProvider != nil {
		t.Error("plain metrics by default, but the options serve TLS or filter")
	}

	c, err = parseFlags([]string{"--metrics-secure", "--metrics-cert-dir=/certs/metrics", "--scaled-jobs=false"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := metricsOptions(c)
	if !o.SecureServing || o.FilterProvider == nil || o.CertDir != "/certs/metrics" {
		t.Errorf("--metrics-secure: SecureServing %v, a filter %v, CertDir %q", o.SecureServing, o.FilterProvider != nil, o.CertDir)
	}
	cfg := &tls.Config{NextProtos: []string{"h2"}}
	for _, f := range o.TLSOpts {
		f(cfg)
	}
	if !slices.Equal(cfg.NextProtos, []string{"http/1.1"}) {
		t.Errorf("ALPN %v without --enable-http2, want http/1.1 only", cfg.NextProtos)
	}
	if c.scaledJobs {
		t.Error("--scaled-jobs=false left ScaledJobs on")
	}

	c, err = parseFlags([]string{"--metrics-secure", "--enable-http2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(metricsOptions(c).TLSOpts) != 0 {
		t.Error("--enable-http2 still restricts the metrics endpoint's ALPN")
	}
}

// --hpa-sync-period defaults to kube-controller-manager's 15 s and must be
// positive: it bounds the age of what the adapter serves a running target.
func TestTheHPASyncPeriodFlag(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.hpaSyncPeriod != 15*time.Second {
		t.Errorf("default --hpa-sync-period %s, want 15s", c.hpaSyncPeriod)
	}
	if c, err = parseFlags([]string{"--hpa-sync-period=30s"}, io.Discard); err != nil || c.hpaSyncPeriod != 30*time.Second {
		t.Errorf("--hpa-sync-period=30s: %s, %v", c.hpaSyncPeriod, err)
	}
	for _, bad := range []string{"0s", "-1s"} {
		if _, err := parseFlags([]string{"--hpa-sync-period=" + bad}, io.Discard); err == nil {
			t.Errorf("--hpa-sync-period=%s accepted", bad)
		}
	}
}
