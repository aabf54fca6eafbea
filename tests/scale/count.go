// SPDX-License-Identifier: Apache-2.0

package scale

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Counter is an http.RoundTripper wrapper that counts the requests a client
// sends to the API server by verb and resource ("PATCH scaledobjects/status",
// "GET deployments/scale", "WATCH horizontalpodautoscalers"), and the failed
// ones again under their status code ("429 PATCH scaledobjects"). Every
// attempt counts, also client-go's retries. Install it with
// rest.Config.Wrap(counter.Wrap). Safe for concurrent use.
type Counter struct {
	mu     sync.Mutex
	counts map[string]int
	spent  map[string]time.Duration
}

// NewCounter returns an empty Counter.
func NewCounter() *Counter {
	return &Counter{counts: map[string]int{}, spent: map[string]time.Duration{}}
}

// Wrap wraps rt so that every request is counted; it fits rest.Config.Wrap.
func (c *Counter) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		key := Classify(req)
		c.mu.Lock()
		c.counts[key]++
		c.mu.Unlock()
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		took := time.Since(start)
		c.mu.Lock()
		c.spent[key] += took
		if err == nil && resp.StatusCode >= 400 {
			c.counts[strconv.Itoa(resp.StatusCode)+" "+key]++
		}
		c.mu.Unlock()
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Latency returns the mean time to the response headers of each kind of
// request so far (for a WATCH: until the watch was established).
func (c *Counter) Latency() map[string]time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]time.Duration, len(c.spent))
	for k, d := range c.spent {
		if n := c.counts[k]; n > 0 {
			out[k] = d / time.Duration(n)
		}
	}
	return out
}

// Snapshot returns the counts so far.
func (c *Counter) Snapshot() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(Counts, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// Counts maps "VERB resource[/subresource]" to a number of requests.
type Counts map[string]int

// Sub returns c minus before, leaving out zero entries.
func (c Counts) Sub(before Counts) Counts {
	out := Counts{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// Work is the total of the requests that do work on objects: everything but
// the informers' LIST and WATCH, discovery, and the failure counts (their
// requests are counted under their verb already).
func (c Counts) Work() int {
	n := 0
	for k, v := range c {
		verb, _, _ := strings.Cut(k, " ")
		switch {
		case verb == "LIST", verb == "WATCH", verb == "DISCOVERY":
		case verb != "" && verb[0] >= '0' && verb[0] <= '9':
		default:
			n += v
		}
	}
	return n
}

// String lists the counts, largest first: "PATCH scaledobjects=1000, ...".
func (c Counts) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c[keys[i]] != c[keys[j]] {
			return c[keys[i]] > c[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, c[k])
	}
	return strings.Join(parts, ", ")
}

// PerObject renders each count divided by n: "PATCH scaledobjects 1.00, ...".
func (c Counts) PerObject(n int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c[keys[i]] != c[keys[j]] {
			return c[keys[i]] > c[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.2f", k, float64(c[k])/float64(n))
	}
	return strings.Join(parts, ", ")
}

// Classify names a request to the API server by verb and resource:
// GET/LIST/WATCH/CREATE/UPDATE/PATCH/APPLY/DELETE and "resource" or
// "resource/subresource"; requests for API discovery are "DISCOVERY".
func Classify(req *http.Request) string {
	path := strings.Trim(req.URL.Path, "/")
	parts := strings.Split(path, "/")
	// Strip /api/v1 or /apis/<group>/<version>.
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return "DISCOVERY"
	}
	if len(parts) == 0 {
		return "DISCOVERY"
	}
	// namespaces/<ns>/<resource>/... ; a bare namespaces/<name> is the
	// namespace itself.
	if parts[0] == "namespaces" && len(parts) >= 3 {
		parts = parts[2:]
	}
	resource := parts[0]
	named := len(parts) >= 2
	if len(parts) >= 3 {
		resource += "/" + parts[2]
	}
	var verb string
	switch req.Method {
	case http.MethodGet:
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			verb = "WATCH"
		case named:
			verb = "GET"
		default:
			verb = "LIST"
		}
	case http.MethodPost:
		verb = "CREATE"
	case http.MethodPut:
		verb = "UPDATE"
	case http.MethodPatch:
		verb = "PATCH"
		if strings.HasPrefix(req.Header.Get("Content-Type"), "application/apply-patch") {
			verb = "APPLY"
		}
	case http.MethodDelete:
		verb = "DELETE"
	default:
		verb = req.Method
	}
	return verb + " " + resource
}
