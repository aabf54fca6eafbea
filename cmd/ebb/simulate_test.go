// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const simTestdata = "internal/simulate/testdata/"

func TestSimulateFlags(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	o, err := parseSimulateFlags([]string{
		"--series", "lag=a.csv", "so.yaml", "--series", "b.csv", "--compare", "other.yaml",
		"--hpa-sync-period", "5s", "--hpa-tolerance", "0.2", "--initial-replicas", "3",
		"--prometheus", "http://prom:9090", "--query", `rate=sum(rate(x{a="b"}[1m]))`, "--query", `sum(y{a="b"})`, "--start", "-6h",
	}, &bytes.Buffer{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if o.ScaledObject != "so.yaml" || o.Compare != "other.yaml" {
		t.Errorf("files %q, %q", o.ScaledObject, o.Compare)
	}
	if len(o.Series) != 2 || o.Series[0].Trigger != "lag" || o.Series[0].Path != "a.csv" || o.Series[1].Trigger != "" || o.Series[1].Path != "b.csv" {
		t.Errorf("series %+v", o.Series)
	}
	if o.Cluster.SyncPeriod != 5*time.Second || o.Cluster.Tolerance != 0.2 || o.Cluster.InitialReplicas != 3 {
		t.Errorf("cluster %+v", o.Cluster)
	}
	p := o.Prometheus
	if len(p.Queries) != 2 || p.Queries[0].Trigger != "rate" || p.Queries[0].Query != `sum(rate(x{a="b"}[1m]))` || p.Queries[1].Trigger != "" || p.Queries[1].Query != `sum(y{a="b"})` {
		t.Errorf("queries %+v", p.Queries)
	}
	if !p.Start.Equal(now.Add(-6*time.Hour)) || !p.End.Equal(now) || p.Step != 15*time.Second {
		t.Errorf("range %s to %s step %s", p.Start, p.End, p.Step)
	}

	for args, want := range map[string]string{
		"":                             "no ScaledObject",
		"a.yaml b.yaml":                `unexpected arguments ["b.yaml"]`,
		"--plot out.svg a.yaml":        "name the file *.png",
		"--initial-replicas -1 a.yaml": "--initial-replicas -1: expected 0 or more",
		"--hpa-sync-period 0s a.yaml":  "--hpa-sync-period 0s: expected more than 0",
		"--query up a.yaml":            "--query needs --prometheus",
		"--prometheus http://p --start yesterday a.yaml": `--start "yesterday": expected an RFC 3339 time`,
	} {
		_, err := parseSimulateFlags(strings.Fields(args), &bytes.Buffer{}, now)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error with %q", args, err, want)
		}
	}
}

// TestSimulateCommand runs `ebb simulate` on the testdata with the operator's
// full registry: the report and a PNG chart.
func TestSimulateCommand(t *testing.T) {
	chart := filepath.Join(t.TempDir(), "out.png")
	var stdout, stderr bytes.Buffer
	err := simulateCommand(t.Context(), []string{
		"--series", simTestdata + "lag.csv", "--compare", simTestdata + "tuned.yaml", "--plot", chart, simTestdata + "worker.yaml",
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, want := range []string{
		"ScaledFromZero: trigger \"lag\" active (value 3)",
		"HPA  trigger \"lag\" above target",
		"Chart written to " + chart,
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if !regexp.MustCompile(`replica-seconds +6600 +3985\n`).MatchString(stdout.String()) {
		t.Errorf("the summary does not show 6600 and 3985 replica-seconds side by side:\n%s", stdout.String())
	}
	f, err := os.Open(chart)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("chart of %v: want at least 800×600", b)
	}

	err = simulateCommand(t.Context(), []string{"--series", simTestdata + "missing.csv", simTestdata + "worker.yaml"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("a missing series file: got %v", err)
	}
}
