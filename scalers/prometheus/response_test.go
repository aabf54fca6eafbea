// SPDX-License-Identifier: Apache-2.0

package prometheus

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	tests := map[string]struct {
		file     string
		status   int
		want     result
		wantErr  []string // substrings of the error; nil: no error
		notInErr []string // substrings of the server's reply the error must not repeat
	}{
		"a vector with one sample gives its value": {
			file: "vector_one_series.json", want: result{Value: 37},
		},
		"a fractional value is kept": {
			file: "vector_fraction.json", want: result{Value: 0.25},
		},
		"a scalar gives its value": {
			file: "scalar.json", want: result{Value: 12.5},
		},
		"an empty vector is reported as empty, for the scaler to judge": {
			file: "vector_empty.json", want: result{Empty: true},
		},
		"warnings do not hide the value": {
			file: "handmade_vector_with_warnings.json", want: result{Value: 8},
		},
		"two series are an error that says to aggregate, without the server's labels": {
			file: "vector_two_series.json", wantErr: []string{"2 series", "sum("}, notInErr: []string{"orders", "invoices", "queue"},
		},
		"a range vector is an error that says how to get an instant vector": {
			file: "matrix.json", wantErr: []string{"range vector", "rate("},
		},
		"a string is an error": {
			file: "string.json", wantErr: []string{"returned a string"},
		},
		"a scalar NaN is an error": {
			file: "scalar_nan.json", wantErr: []string{"NaN"},
		},
		"+Inf is an error": {
			file: "vector_inf.json", wantErr: []string{"infinite value"},
		},
		"-Inf is an error": {
			file: "vector_minus_inf.json", wantErr: []string{"infinite value"},
		},
		"a parse error carries Prometheus's error type, not the server's message": {
			file: "error_bad_data.json", status: 400, wantErr: []string{"bad_data", "HTTP 400", "run the query in Prometheus"}, notInErr: []string{"unclosed left parenthesis"},
		},
		"an unknown function carries the error type, not the server's message": {
			file: "error_unknown_function.json", status: 400, wantErr: []string{"bad_data"}, notInErr: []string{"no_such_function"},
		},
		"an execution error carries its error type": {
			file: "error_execution.json", status: 422, wantErr: []string{"execution", "HTTP 422"}, notInErr: []string{"many-to-many"},
		},
		"a proxy's HTML error page is an HTTP error, not a value": {
			file: "handmade_proxy_502.html", status: 502, wantErr: []string{"HTTP 502 Bad Gateway", "not from the Prometheus API", "HTML page"},
		},
		"a 200 answer that is not the API says serverAddress may be wrong": {
			file: "handmade_proxy_502.html", status: 200, wantErr: []string{"not a Prometheus API answer", "serverAddress"}, notInErr: []string{"<"},
		},
		"an answer without a status is not the API": {
			file: "handmade_no_status.json", wantErr: []string{"not a Prometheus API answer"},
		},
		"a native histogram is an error that says how to get a number": {
			file: "handmade_native_histogram.json", wantErr: []string{"native histogram", "histogram_quantile"},
		},
		"a value that is not a number is an error": {
			file: "handmade_value_not_a_number.json", wantErr: []string{"is not a number"}, notInErr: []string{"not-a-number"},
		},
		"a sample without a value is an error": {
			file: "handmade_sample_without_value.json", wantErr: []string{"malformed"},
		},
		"a success body with an error status code is an error": {
			file: "vector_one_series.json", status: 503, wantErr: []string{"HTTP 503"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			status := tc.status
			if status == 0 {
				status = 200
			}
			got, err := parseResponse(status, body)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("parseResponse = %v", err)
				}
				if got != tc.want {
					t.Fatalf("parseResponse = %+v, want %+v", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("parseResponse = %+v with no error, want an error containing %q", got, tc.wantErr)
			}
			if got != (result{}) {
				t.Errorf("parseResponse returned %+v along with its error", got)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			// The server is a tenant's choice: its words stay out of errors,
			// which reach the status and Events.
			for _, never := range tc.notInErr {
				if strings.Contains(err.Error(), never) {
					t.Errorf("error %q repeats the server's %q", err, never)
				}
			}
		})
	}
}

// FuzzParseResponse checks that no answer makes the parser panic, and that
// what it accepts is a finite number or an empty result.
func FuzzParseResponse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, ".md") {
			continue
		}
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(200, body)
		f.Add(400, body)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		got, err := parseResponse(status, body)
		if err != nil {
			if got != (result{}) {
				t.Fatalf("parseResponse returned %+v along with error %v", got, err)
			}
			if len(err.Error()) > 2000 {
				t.Fatalf("error text is %d bytes long", len(err.Error()))
			}
			return
		}
		if math.IsNaN(got.Value) || math.IsInf(got.Value, 0) {
			t.Fatalf("parseResponse accepted %v", got.Value)
		}
		if got.Empty && got.Value != 0 {
			t.Fatalf("an empty result carries value %v", got.Value)
		}
	})
}

func BenchmarkParseResponse(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "vector_one_series.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseResponse(200, body); err != nil {
			b.Fatal(err)
		}
	}
}
