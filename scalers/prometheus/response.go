// SPDX-License-Identifier: Apache-2.0

package prometheus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/ebbscale/ebb/scalers"
)

// result is what an instant query gave: one number, or no series at all.
type result struct {
	Value float64
	// Empty says the query matched no series (an empty instant vector). The
	// scaler decides what that means (ignoreNullValues).
	Empty bool
}

// apiResponse is the envelope of every Prometheus HTTP API answer.
type apiResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

type vectorSample struct {
	Metric    map[string]string `json:"metric"`
	Value     []json.RawMessage `json:"value"`
	Histogram json.RawMessage   `json:"histogram"`
}

// maxShown bounds how much of a server's text an error repeats.
const maxShown = 300

// resultLimits bound the result of an answer before it is decoded into
// samples (each with a map of labels): a vector of some 10,000 series of a
// few labels each fits, so that a query returning many series gets the error
// that shows them rather than this bound.
var resultLimits = scalers.JSONLimits{Bytes: maxBody, Values: 100_000, Depth: 16}

// parseResponse reads the answer of GET /api/v1/query: an instant vector
// with one sample or a scalar gives its value; an empty vector gives Empty;
// anything else is an error that says what to change. It never panics,
// whatever the bytes (FuzzParseResponse checks it).
func parseResponse(statusCode int, body []byte) (result, error) {
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil || (r.Status != "success" && r.Status != "error") {
		// Not the Prometheus API: a proxy's error page, a login form, the
		// wrong URL...
		if statusCode < 200 || statusCode > 299 {
			return result{}, fmt.Errorf("HTTP %d %s%s; the answer is not from the Prometheus API (is serverAddress right?)",
				statusCode, http.StatusText(statusCode), excerpt(body))
		}
		return result{}, fmt.Errorf("HTTP %d, but the answer is not a Prometheus API answer (is serverAddress the Prometheus base URL?)%s",
			statusCode, excerpt(body))
	}
	if r.Status == "error" {
		errType := r.ErrorType
		if errType == "" {
			errType = "unknown"
		}
		// The server's own message is not repeated: the server is a tenant's
		// choice, and its words would reach the status and Events.
		return result{}, fmt.Errorf("prometheus rejected the query (%s, HTTP %d); its message is not shown here: run the query in Prometheus to see it", knownErrorType(errType), statusCode)
	}
	if statusCode < 200 || statusCode > 299 {
		return result{}, fmt.Errorf("HTTP %d %s with a success status in the body", statusCode, http.StatusText(statusCode))
	}

	var d queryData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return result{}, errors.New("the answer's data is not valid JSON")
	}
	switch d.ResultType {
	case "vector":
		if err := scalers.CheckJSON(d.Result, resultLimits); err != nil {
			return result{}, fmt.Errorf("the answer's vector is too large; the query must return one series: aggregate it, e.g. sum(<query>): %w", err)
		}
		var samples []vectorSample
		if err := json.Unmarshal(d.Result, &samples); err != nil {
			return result{}, errors.New("the answer's vector is malformed")
		}
		switch len(samples) {
		case 0:
			return result{Empty: true}, nil
		case 1:
		default:
			return result{}, fmt.Errorf("the query returned %d series; it must return one: aggregate it, e.g. sum(<query>) or max(<query>)",
				len(samples))
		}
		if samples[0].Value == nil && len(samples[0].Histogram) > 0 {
			return result{}, errors.New("the query returned a native histogram; it must return a number: use e.g. histogram_quantile() or histogram_count()")
		}
		v, err := sampleValue(samples[0].Value)
		if err != nil {
			return result{}, err
		}
		return result{Value: v}, nil
	case "scalar":
		if err := scalers.CheckJSON(d.Result, resultLimits); err != nil {
			return result{}, fmt.Errorf("the answer's scalar is malformed: %w", err)
		}
		var pair []json.RawMessage
		if err := json.Unmarshal(d.Result, &pair); err != nil {
			return result{}, errors.New("the answer's scalar is malformed")
		}
		v, err := sampleValue(pair)
		if err != nil {
			return result{}, err
		}
		return result{Value: v}, nil
	case "matrix":
		return result{}, errors.New("the query returned a range vector (matrix); it must return an instant vector or a scalar: wrap the range in a function such as rate(...[2m]) or last_over_time(...[2m])")
	case "string":
		return result{}, errors.New("the query returned a string; it must return an instant vector or a scalar")
	default:
		return result{}, errors.New("the answer has an unknown result type; expected vector or scalar")
	}
}

// sampleValue reads a [<time>, "<value>"] pair.
func sampleValue(pair []json.RawMessage) (float64, error) {
	if len(pair) != 2 {
		return 0, fmt.Errorf("the answer's sample is malformed: expected [time, value], found %d elements", len(pair))
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return 0, errors.New("the answer's sample value is malformed: expected a string")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errors.New("the answer's sample value is not a number")
	}
	switch {
	case math.IsNaN(v):
		return 0, errors.New("the query returned NaN, which is not a value to scale on (a division by zero, or a rate over too short a range?)")
	case math.IsInf(v, 0):
		return 0, errors.New("the query returned an infinite value, which is not a value to scale on")
	}
	return v, nil
}

// excerpt says what a body that is not an API answer looks like, without
// repeating it: the server is a tenant's choice.
func excerpt(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return " (an empty body)"
	}
	lower := bytes.ToLower(body[:min(len(body), 64)])
	if bytes.HasPrefix(lower, []byte("<!doctype html")) || bytes.HasPrefix(lower, []byte("<html")) {
		return " (an HTML page)"
	}
	return fmt.Sprintf(" (%d bytes, not shown)", len(body))
}

// knownErrorType is errorType when it is one of the Prometheus API's own,
// "unknown" otherwise: nothing else of the server's is repeated.
func knownErrorType(t string) string {
	switch t {
	case "bad_data", "timeout", "canceled", "execution", "internal", "unavailable", "not_found", "not_acceptable":
		return t
	}
	return "unknown"
}

// shorten cuts s to at most n bytes on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
