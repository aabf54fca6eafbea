// SPDX-License-Identifier: Apache-2.0

package http

import (
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// serve starts a server that answers every request with answer.
func serve(t *testing.T, contentType string, answer func(w io.Writer)) string {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		w.Header().Set("Content-Type", contentType)
		answer(w)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// repeat writes line n times.
func repeat(w io.Writer, line string, n int) {
	chunk := []byte(strings.Repeat(line, 1000))
	for range n / 1000 {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

func TestAHostileCounterEndpointIsRefusedWithinBounds(t *testing.T) {
	cases := map[string]func(w io.Writer){
		"an endless page": func(w io.Writer) {
			repeat(w, "other_metric{a=\"b\"} 1\n", 2_000_000) // 44 MB
		},
		"an endless line": func(w io.Writer) {
			_, _ = io.WriteString(w, "requests_total{route=\"")
			repeat(w, "x", 1_000_000)
		},
		"more series of the metric than the bound": func(w io.Writer) {
			for i := range 60_000 {
				fmt.Fprintf(w, "requests_total{i=\"%d\"} 1\n", i)
			}
		},
		"more label pairs of the metric than the bound": func(w io.Writer) {
			labels := strings.TrimSuffix(strings.Repeat(`a="",`, 200), ",")
			repeat(w, "requests_total{"+labels+"} 1\n", 3000)
		},
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			u := serve(t, "text/plain; version=0.0.4", answer)
			sc := newScaler(t, NewType(), map[string]string{"counterURL": u, "counterName": "requests_total", "targetConcurrency": "1", "timeout": "10s"})
			err := scalertest.BoundedFailure(t, sc, 10*time.Second, 32<<20)
			if !errors.Is(err, scalers.ErrReplyTooLarge) || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("Read = %.300v, want ErrReplyTooLarge without the page", err)
			}
		})
	}
}

// A large page is read for the one family the trigger names: the others
// pass without being kept.
func TestALargePageIsReadForItsOneFamily(t *testing.T) {
	u := serve(t, "text/plain; version=0.0.4", func(w io.Writer) {
		_, _ = io.WriteString(w, "# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total{route=\"/a\"} 3\n")
		repeat(w, "# TYPE other histogram\nother_bucket{le=\"+Inf\",route=\"/a\",method=\"GET\",status=\"200\"} 1\n", 150_000) // 12 MB
		_, _ = io.WriteString(w, "requests_total{route=\"/b\"} 4\n")
	})
	sc := newScaler(t, NewType(), map[string]string{"counterURL": u, "counterName": "requests_total", "targetConcurrency": "1", "timeout": "10s"})
	if r := scalertest.MustRead(t, sc); r.Value != 7 {
		t.Errorf("Read = %+v, want the sum of the family's two series, 7", r)
	}
}

func TestAHostileInterceptorIsRefusedWithinBounds(t *testing.T) {
	cases := map[string]func(w io.Writer){
		"an endless answer": func(w io.Writer) {
			_, _ = io.WriteString(w, `{"routes":[`)
			repeat(w, `{"name":"r","requestRate":1},`, 300_000)
		},
		"more values than the bound": func(w io.Writer) {
			_, _ = io.WriteString(w, `{"routes":[`)
			repeat(w, `{},`, 300_000)
			_, _ = io.WriteString(w, `{}]}`)
		},
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			u := serve(t, "application/json", answer)
			typ := NewType()
			sc, err := typ.New(interceptorTrigger(u, "timeout", "10s"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sc.Close() })
			err = scalertest.BoundedFailure(t, sc, 10*time.Second, 32<<20)
			if !errors.Is(err, scalers.ErrReplyTooLarge) {
				t.Errorf("Read = %.300v, want ErrReplyTooLarge", err)
			}
		})
	}
}

// FuzzScrapePage feeds pages to the family filter and the parser: nothing
// panics, errors never quote the page, and a page the parser takes whole
// gives the same family when filtered.
func FuzzScrapePage(f *testing.F) {
	f.Add([]byte("# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total{route=\"/a\"} 3\nrequests_total{route=\"/b\"} 4 1700000000000\n"), "requests_total")
	f.Add([]byte("# TYPE lat histogram\nlat_bucket{le=\"0.1\"} 1\nlat_bucket{le=\"+Inf\"} 2\nlat_sum 0.3\nlat_count 2\n"), "lat_count")
	f.Add([]byte("# TYPE \"my.metric\" gauge\n{\"my.metric\", a=\"b\"} 5\n"), "my.metric")
	f.Add([]byte("x 1\ny{a=\"\\\"\"} 2\n# comment\n\n"), "y")
	f.Fuzz(func(t *testing.T, text []byte, name string) {
		kept, err := keepFamily(strings.NewReader(string(text)), name)
		if err != nil {
			return
		}
		families, err := parseFamilies(kept)
		if err != nil {
			if len(text) >= 8 && strings.Contains(err.Error(), string(text)) {
				t.Fatalf("error %q quotes the page", err)
			}
			return
		}
		_, _ = selectSeries(&page{families: families}, name, nil)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		whole, err := parser.TextToMetricFamilies(strings.NewReader(string(text)))
		if err != nil {
			return
		}
		base, _ := strings.CutSuffix(name, "_count")
		for _, n := range []string{name, base} {
			if w, ok := whole[n]; ok && !proto.Equal(w, families[n]) {
				t.Fatalf("family %s: whole page %v, filtered %v", n, w, families[n])
			}
		}
	})
}

// FuzzInterceptorAnswer feeds answers of GET /v1/routes and GET
// /v1/activations to their decoding: nothing panics, and errors never quote
// the answer.
func FuzzInterceptorAnswer(f *testing.F) {
	f.Add([]byte(`{"routes":[{"name":"shop/web","host":"shop.example","pathPrefix":"/","requestRate":1.5,"window":"1m0s","requestsTotal":90,"inFlight":1,"held":0,"readyEndpoints":2}]}`))
	f.Add([]byte(`{"epoch":"e1","seq":4,"routes":["shop/web"]}`))
	f.Add([]byte(`{"routes":[` + strings.Repeat(`{},`, 50) + `{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var sr interceptor.StatsResponse
		if err := scalers.DecodeJSON(data, statsLimits, &sr); err != nil && len(data) >= 8 && strings.Contains(err.Error(), string(data)) {
			t.Fatalf("error %q quotes the answer", err)
		}
		var a interceptor.Activations
		if err := scalers.DecodeJSON(data, activationsLimits, &a); err != nil && len(data) >= 8 && strings.Contains(err.Error(), string(data)) {
			t.Fatalf("error %q quotes the answer", err)
		}
	})
}
