// SPDX-License-Identifier: Apache-2.0

package metricsapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var files = map[string]string{
	formatJSON:       "stats.json",
	formatYAML:       "stats.yaml",
	formatXML:        "stats.xml",
	formatPrometheus: "metrics.prom",
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExtract(t *testing.T) {
	tests := map[string]struct {
		format, loc string
		want        float64
		wantErr     string
	}{
		"json: a GJSON path to a number":                         {format: formatJSON, loc: "components.worker.tasks", want: 12},
		"json: an array element by index":                        {format: formatJSON, loc: "components.queues.0.depth", want: 42},
		"json: a GJSON query on an array":                        {format: formatJSON, loc: `components.queues.#(name=="invoices").depth`, want: 7},
		"json: the length of an array":                           {format: formatJSON, loc: "components.queues.#", want: 2},
		"json: a string holding a quantity":                      {format: formatJSON, loc: "components.worker.memory", want: 10 << 20},
		"json: a string holding a decimal quantity":              {format: formatJSON, loc: "components.worker.pending", want: 1500},
		"json: a missing path is an error":                       {format: formatJSON, loc: "components.worker.gone", wantErr: "selects nothing"},
		"json: a boolean is an error":                            {format: formatJSON, loc: "components.worker.enabled", wantErr: "boolean"},
		"json: null is an error":                                 {format: formatJSON, loc: "components.worker.note", wantErr: "null"},
		"json: an object is an error":                            {format: formatJSON, loc: "components.worker", wantErr: "object"},
		"json: an array is an error that says how to select":     {format: formatJSON, loc: "components.queues", wantErr: "items.0.count"},
		"json: a string that is no number is an error":           {format: formatJSON, loc: "version", wantErr: "not a number"},
		"yaml: a dot path to a number":                           {format: formatYAML, loc: "components.worker.tasks", want: 12},
		"yaml: an index into a sequence":                         {format: formatYAML, loc: "components.queues.1.depth", want: 7},
		"yaml: a quantity":                                       {format: formatYAML, loc: "components.worker.memory", want: 10 << 20},
		"yaml: a quoted decimal quantity":                        {format: formatYAML, loc: "components.worker.pending", want: 1500},
		"yaml: a hexadecimal integer":                            {format: formatYAML, loc: "components.worker.hex", want: 31},
		"yaml: a path through an alias":                          {format: formatYAML, loc: "components.alias.depth", want: 5},
		"yaml: a missing key is an error":                        {format: formatYAML, loc: "components.worker.gone", wantErr: "selects nothing"},
		"yaml: an index past the end is an error":                {format: formatYAML, loc: "components.queues.2.depth", wantErr: "selects nothing"},
		"yaml: a boolean is an error":                            {format: formatYAML, loc: "components.worker.enabled", wantErr: "boolean"},
		"yaml: null is an error":                                 {format: formatYAML, loc: "components.worker.note", wantErr: "null"},
		"yaml: a sequence is an error":                           {format: formatYAML, loc: "components.queues", wantErr: "sequence"},
		"yaml: a mapping is an error":                            {format: formatYAML, loc: "components", wantErr: "mapping"},
		"xml: a path from the root element":                      {format: formatXML, loc: "stats.components.worker.tasks", want: 12},
		"xml: a quantity":                                        {format: formatXML, loc: "stats.components.worker.memory", want: 10 << 20},
		"xml: an index among repeated elements":                  {format: formatXML, loc: "stats.components.queue.1.depth", want: 7},
		"xml: index 0 of a single element":                       {format: formatXML, loc: "stats.components.0.worker.tasks", want: 12},
		"xml: a repeated element without an index is an error":   {format: formatXML, loc: "stats.components.queue.depth", wantErr: "several elements"},
		"xml: an element with children is an error":              {format: formatXML, loc: "stats.components.worker.nested", wantErr: "child elements"},
		"xml: another root is an error":                          {format: formatXML, loc: "other.components.worker.tasks", wantErr: "selects nothing"},
		"xml: text that is no number is an error":                {format: formatXML, loc: "stats.version", wantErr: "not a number"},
		"prometheus: a metric without labels":                    {format: formatPrometheus, loc: "worker_tasks", want: 12},
		"prometheus: a counter in exponent notation":             {format: formatPrometheus, loc: "worker_tasks_total", want: 1.027e6},
		"prometheus: a series by its labels":                     {format: formatPrometheus, loc: `queue_depth{queue="invoices"}`, want: 7},
		"prometheus: labels with escapes, and a timestamp":       {format: formatPrometheus, loc: `queue_depth{queue="odd \"name\"\\x"}`, want: 3},
		"prometheus: several series are an error":                {format: formatPrometheus, loc: `queue_depth{region="eu"}`, wantErr: "selects 2 series"},
		"prometheus: no series is an error":                      {format: formatPrometheus, loc: `queue_depth{queue="gone"}`, wantErr: "no series"},
		"prometheus: a metric name that is a prefix is no match": {format: formatPrometheus, loc: "worker", wantErr: "no series"},
		"prometheus: NaN is an error":                            {format: formatPrometheus, loc: "nan_gauge", wantErr: "NaN"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, err := parseLocation(tc.format, tc.loc)
			if err != nil {
				t.Fatalf("parseLocation = %v", err)
			}
			got, err := extract(l, readTestdata(t, files[tc.format]))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("extract = %v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("extract = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestAnswerOfAnotherFormatIsAnErrorThatSaysSo(t *testing.T) {
	for _, format := range []string{formatJSON, formatYAML, formatXML} {
		t.Run(format, func(t *testing.T) {
			l, err := parseLocation(format, "a.b")
			if err != nil {
				t.Fatal(err)
			}
			_, err = extract(l, []byte("<html><body>zqx {[ 502 Bad Gateway: \"a\": [</body></html>"))
			if err == nil || strings.Contains(err.Error(), "zqx") {
				t.Fatalf("extract = %v; want an error that does not quote the answer", err)
			}
		})
	}
}

func TestParseLocationRefusesWhatCannotSelect(t *testing.T) {
	tests := map[string]struct{ format, loc string }{
		"an empty location":                         {formatJSON, " "},
		"an empty step in a yaml path":              {formatYAML, "a..b"},
		"an xml path that starts with an index":     {formatXML, "0.a"},
		"a prometheus name that is not a name":      {formatPrometheus, "queue-depth"},
		"prometheus labels that do not close":       {formatPrometheus, `queue_depth{queue="orders"`},
		"prometheus labels with something after":    {formatPrometheus, `queue_depth{queue="orders"} 3`},
		"a location longer than the bound":          {formatJSON, strings.Repeat("a.", maxLocation)},
		"prometheus labels with an unquoted value":  {formatPrometheus, `queue_depth{queue=orders}`},
		"prometheus labels with a bad label name":   {formatPrometheus, `queue_depth{que-ue="orders"}`},
		"prometheus labels with a colon label name": {formatPrometheus, `queue_depth{a:b="orders"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := parseLocation(tc.format, tc.loc); err == nil {
				t.Fatalf("parseLocation(%s, %q) accepted it", tc.format, tc.loc)
			}
		})
	}
}

// fuzzExtract checks that extraction of any answer never panics, and that
// its error never quotes the answer.
func fuzzExtract(f *testing.F, format string, locs ...string) {
	f.Add(readTestdata(f, files[format]), locs[0])
	for _, name := range files {
		for _, loc := range locs {
			f.Add(readTestdata(f, name), loc)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, loc string) {
		l, err := parseLocation(format, loc)
		if err != nil {
			return
		}
		v, err := extract(l, body)
		if err != nil {
			if v != 0 {
				t.Fatalf("extract returned %v along with error %v", v, err)
			}
			if msg := err.Error(); len(msg) > 2000 {
				t.Fatalf("error of %d bytes", len(msg))
			}
		}
	})
}

func FuzzExtractJSON(f *testing.F) {
	fuzzExtract(f, formatJSON, "components.worker.tasks", "components.queues.#(name==\"orders\").depth", "components.queues.1.depth", "..#")
}

func FuzzExtractYAML(f *testing.F) {
	fuzzExtract(f, formatYAML, "components.worker.tasks", "components.queues.1.depth", "components.alias.depth")
}

func FuzzExtractXML(f *testing.F) {
	fuzzExtract(f, formatXML, "stats.components.worker.tasks", "stats.components.queue.1.depth", "stats.0.version")
}

func FuzzExtractPrometheus(f *testing.F) {
	fuzzExtract(f, formatPrometheus, "worker_tasks", `queue_depth{queue="orders"}`, `queue_depth{queue="odd \"name\"\\x",region="us"}`)
}
