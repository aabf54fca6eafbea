// SPDX-License-Identifier: Apache-2.0

// Package promharness runs a real Prometheus server for a test.
//
// Start runs the `prometheus` binary of the Debian package (install it with
// `apt-get install -y --no-install-recommends prometheus`; `make test` does it
// through tests/services.sh) on a free loopback port, with a fresh TSDB in the
// test's temporary folder and a generated configuration that scrapes the
// given host:port targets every second. It waits until /-/ready answers and
// stops the server when the test ends, printing its log if the test failed.
// A missing binary fails the test; it never skips.
//
//	reg := prometheus.NewRegistry()
//	depth := prometheus.NewGauge(prometheus.GaugeOpts{Name: "queue_depth"})
//	reg.MustRegister(depth)
//	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//	defer srv.Close()
//
//	prom := promharness.Start(t, srv.Listener.Addr().String())
//	depth.Set(37)
//	prom.WaitForQuery(t, "queue_depth", func(v float64) bool { return v == 37 })
//
// The package owns no state outside the values it returns: every Prometheus
// belongs to the test that started it.
package promharness
