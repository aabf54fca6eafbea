// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkProxy measures requests through the interceptor against the same
// requests sent to the backend directly, on loopback, at 1, 64 and 256
// concurrent connections (keep-alive, a 2-byte answer). It reports the
// latency's p50 and p99 in microseconds and the throughput. Run:
//
//	go test -run '^$' -bench BenchmarkProxy -benchtime 20000x ./scalers/http/interceptor/
//
// It is a quick check of the library: the load generator, the interceptor
// and the backend share one process and one Go scheduler here. The figures
// in docs/benchmarks.md come from tests/bench/interceptor, which runs wrk,
// the ebb-interceptor binary and the backend as three processes.
func BenchmarkProxy(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer backend.Close()
	ic, err := New(Config{Routes: []Route{rt("bench", "*", "/", backend.URL)}})
	if err != nil {
		b.Fatal(err)
	}
	front := httptest.NewUnstartedServer(ic)
	front.Config = NewServer("", ic)
	front.Start()
	defer front.Close()
	defer ic.CloseIdleConnections()

	for _, conns := range []int{1, 64, 256} {
		for _, target := range []struct{ name, url string }{{"direct", backend.URL}, {"interceptor", front.URL}} {
			b.Run(fmt.Sprintf("%s/conns=%d", target.name, conns), func(b *testing.B) {
				load(b, target.url, conns)
			})
		}
	}
}

// load sends b.N GETs to url from conns goroutines, each with its own
// keep-alive connection, and reports p50, p99 and requests per second.
func load(b *testing.B, url string, conns int) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < conns; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				resp, err := client.Get(url + "/")
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[g] = append(lat[g], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
}
