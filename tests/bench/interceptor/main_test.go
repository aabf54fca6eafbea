// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"
	"time"
)

// wrk 4.1's output with --latency, as the benchmark reads it.
const wrkOutput = `Running 4s test @ http://127.0.0.1:40001/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.12ms    6.01ms  63.05ms   91.20%
    Req/Sec    16.45k     2.10k   19.80k    75.00%
  Latency Distribution
     50%    2.83ms
     75%    4.01ms
     90%    8.77ms
     99%   63.05ms
  65464 requests in 4.00s, 7.24MB read
Requests/sec:  16366.12
Transfer/sec:      1.81MB
`

func TestParseWrkReadsRateRequestsAndPercentiles(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 16366.12 || r.requests != 65464 || r.p50 != 2830*time.Microsecond || r.p99 != 63050*time.Microsecond {
		t.Errorf("parsed %+v, want 16366.12 req/s, 65464 requests, p50 2.83ms, p99 63.05ms", r)
	}
}

func TestParseWrkRefusesARunWithErrors(t *testing.T) {
	for _, bad := range []string{
		strings.Replace(wrkOutput, "Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec", 1),
		strings.Replace(wrkOutput, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec", 1),
		strings.Replace(wrkOutput, "  Latency Distribution\n", "", 1)[:200],
	} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk accepted:\n%s", bad)
		}
	}
}

func TestParseWrkDurUnits(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"43.00us": 43 * time.Microsecond,
		"1.20ms":  1200 * time.Microsecond,
		"2.00s":   2 * time.Second,
		"1.50m":   90 * time.Second,
	} {
		if got, err := parseWrkDur(in); err != nil || got != want {
			t.Errorf("parseWrkDur(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseWrkDur("3h"); err == nil {
		t.Error("parseWrkDur accepted an unknown unit")
	}
}
