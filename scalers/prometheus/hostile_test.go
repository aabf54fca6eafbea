// SPDX-License-Identifier: Apache-2.0

package prometheus

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// A server that is not (or pretends to be) Prometheus: its answers are
// refused within bounds, never decoded whole.
func TestAHostilePrometheusIsRefusedWithinBounds(t *testing.T) {
	vectorOf := func(n int) []byte {
		return []byte(`{"status":"success","data":{"resultType":"vector","result":[` + strings.Repeat(`{},`, n) + `{}]}}`)
	}
	cases := map[string]func(w io.Writer){
		"an endless answer": func(w io.Writer) {
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[`))
			chunk := []byte(strings.Repeat(`{"metric":{},"value":[1,"1"]},`, 1000))
			for range 200 { // 30 MB
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
		// 250,000 samples in 750 KB: each would become a record with a map.
		"a vector of more values than the bound": func(w io.Writer) { _, _ = w.Write(vectorOf(250_000)) },
		"nesting 1,000 levels deep": func(w io.Writer) {
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}}`))
		},
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				answer(w)
			}))
			t.Cleanup(srv.Close)
			sc := newScaler(t, NewType(), trigger(map[string]string{"serverAddress": srv.URL, "query": "up", "threshold": "1"}, nil))
			err := scalertest.BoundedFailure(t, sc, 10*time.Second, 16<<20)
			if !errors.Is(err, scalers.ErrReplyTooLarge) || !strings.Contains(err.Error(), "aggregate it") && !strings.Contains(err.Error(), "malformed") {
				t.Errorf("Read = %.300v, want ErrReplyTooLarge", err)
			}
		})
	}
}
