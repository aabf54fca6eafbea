// SPDX-License-Identifier: Apache-2.0

package metricsapi

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

// A server that answers what no metrics API would: each answer is refused
// within bounds of time and memory, never decoded whole.
func TestAHostileAPIIsRefusedWithinBounds(t *testing.T) {
	repeat := func(s string, n int) func(w io.Writer) {
		return func(w io.Writer) { _, _ = io.WriteString(w, strings.Repeat(s, n)) }
	}
	cases := map[string]struct {
		format, loc string
		answer      func(w io.Writer)
		tooLarge    bool
	}{
		"an endless answer": {formatJSON, "a", func(w io.Writer) {
			chunk := []byte(strings.Repeat(`{"a":1},`, 1000))
			_, _ = w.Write([]byte("["))
			for range 4000 { // 32 MB
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, true},
		"JSON nested 100,000 levels deep":                  {formatJSON, "a", repeat("[", 100_000), true},
		"YAML nested 100,000 levels deep":                  {formatYAML, "a", repeat("[", 100_000), false},
		"XML nested 10,000 levels deep":                    {formatXML, "a.b", repeat("<a>", 10_000), true},
		"YAML of 65,000 tiny nodes, just within the bound": {formatYAML, "a", repeat("- 1\n", 65_000), false},
		"YAML of 1 MiB":                                    {formatYAML, "a", repeat("- 1\n", 1<<18), true},
		"a YAML billion laughs":                            {formatYAML, "i.0.0.0.0.0.0.0.0", yamlLaughs, false},
		"XML of 1 MiB of tiny elements":                    {formatXML, "r.a", func(w io.Writer) { _, _ = io.WriteString(w, "<r>"+strings.Repeat("<a/>", 250_000)) }, false},
		"a Prometheus page of 1 MiB of one series":         {formatPrometheus, "m", repeat("m{a=\"b\"} 1\n", 80_000), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.answer(w) }))
			t.Cleanup(srv.Close)
			sc := scalertest.NewScaler(t, NewType(), trigger(meta(srv.URL, "format", tc.format, "valueLocation", tc.loc), nil))
			err := scalertest.BoundedFailure(t, sc, 10*time.Second, 24<<20)
			if tc.tooLarge && !errors.Is(err, scalers.ErrReplyTooLarge) {
				t.Errorf("Read = %.300v, want ErrReplyTooLarge", err)
			}
		})
	}
}

// yamlLaughs is the YAML form of the billion laughs: each anchor a list of
// ten aliases of the one before.
func yamlLaughs(w io.Writer) {
	_, _ = io.WriteString(w, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, c := range "bcdefghi" {
		_, _ = io.WriteString(w, string(c)+": &"+string(c)+" [*"+prev+",*"+prev+",*"+prev+",*"+prev+",*"+prev+",*"+prev+",*"+prev+",*"+prev+",*"+prev+"]\n")
		prev = string(c)
	}
}
