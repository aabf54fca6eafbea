// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ebbscale/ebb/cmd/ebb/internal/simulate"
	"github.com/ebbscale/ebb/cmd/internal/triggers"
	"github.com/ebbscale/ebb/scalers"
)

func simulateCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseSimulateFlags(args, stderr, time.Now())
	if err != nil {
		return err
	}
	if o.Registry, err = triggers.Registry(scalers.DefaultEgress()); err != nil {
		return err
	}
	_, err = simulate.Execute(ctx, o, stdout)
	return err
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// splitNamed splits "<trigger>=<rest>" where trigger looks like a trigger
// name; anything else is all rest.
func splitNamed(v string) (string, string) {
	name, rest, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return "", v
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return "", v
		}
	}
	return name, rest
}

// parseSimulateFlags reads the flags of `ebb simulate`; the ScaledObject's
// file may come before, between or after them.
func parseSimulateFlags(args []string, stderr io.Writer, now time.Time) (simulate.Options, error) {
	o := simulate.Options{Cluster: simulate.DefaultCluster()}
	fs := flag.NewFlagSet("ebb simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: ebb simulate [flags] scaledobject.yaml

Replays a metric series per trigger through Ebb's scale loop (the operator's own decision
code) and a model of the Kubernetes HPA, and prints the replica count over time (each change
with its reason), then the scale events, the replica-seconds spent, the peak and the time at
zero. The series is the metric as observed: the simulated replicas do not feed back into it.
Replica changes take effect at once. See docs/cli/simulate.md.

  ebb simulate --series lag.csv worker.yaml
  ebb simulate --series lag=lag.csv --series rate=rate.csv --compare tuned.yaml --plot out.png worker.yaml
  ebb simulate --prometheus http://prometheus:9090 --query 'sum(kafka_lag{topic="orders"})' \
      --start -6h --step 15s worker.yaml

A CSV series has lines time,value (an optional header): time in seconds from the start or
RFC 3339; each value holds until the next row; an empty value or "error" is a failed read.

Flags:
`)
		fs.PrintDefaults()
	}
	var series, queries listFlag
	var start, end string
	var initial int
	fs.Var(&series, "series", "`[trigger=]file.csv`: a trigger's series (repeatable; the trigger name may be left out with one trigger)")
	fs.StringVar(&o.Compare, "compare", "", "a second ScaledObject `file` to replay on the same series, side by side")
	fs.StringVar(&o.Plot, "plot", "", "write a PNG chart of the series and the replicas over time to this `file`")
	fs.DurationVar(&o.Duration, "duration", 0, "how long to replay (default: to the last row of the series)")
	fs.DurationVar(&o.Cluster.SyncPeriod, "hpa-sync-period", o.Cluster.SyncPeriod, "the cluster's --horizontal-pod-autoscaler-sync-period")
	fs.Float64Var(&o.Cluster.Tolerance, "hpa-tolerance", o.Cluster.Tolerance, "the cluster's --horizontal-pod-autoscaler-tolerance")
	fs.DurationVar(&o.Cluster.DownscaleStabilization, "hpa-downscale-stabilization", o.Cluster.DownscaleStabilization, "the cluster's --horizontal-pod-autoscaler-downscale-stabilization (used when the ScaledObject sets no scale-down window)")
	fs.DurationVar(&o.Cluster.SyncOffset, "hpa-sync-offset", 0, "when the HPA first syncs after the start (its phase against Ebb's polls)")
	fs.IntVar(&initial, "initial-replicas", 0, "the target's replica count at the start")
	fs.StringVar(&o.Prometheus.URL, "prometheus", "", "fetch the series from this Prometheus `URL` with range queries (see --query)")
	fs.Var(&queries, "query", "`[trigger=]PromQL` giving a trigger's series, one series per query (repeatable; with --prometheus)")
	fs.StringVar(&start, "start", "-1h", "start of the range queries: RFC 3339, or a duration before now like -6h")
	fs.StringVar(&end, "end", "now", "end of the range queries: RFC 3339, now, or a duration before now")
	fs.DurationVar(&o.Prometheus.Step, "step", 15*time.Second, "step of the range queries")

	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(positional) {
	case 0:
		fs.Usage()
		return o, fmt.Errorf("no ScaledObject: expected the YAML file of one")
	case 1:
		o.ScaledObject = positional[0]
	default:
		return o, fmt.Errorf("unexpected arguments %q: expected one ScaledObject file (use --compare for a second)", positional[1:])
	}
	for _, s := range series {
		name, path := splitNamed(s)
		if path == "" {
			return o, fmt.Errorf("--series %q: expected [trigger=]file.csv", s)
		}
		o.Series = append(o.Series, simulate.SeriesFile{Trigger: name, Path: path})
	}
	if initial < 0 {
		return o, fmt.Errorf("--initial-replicas %d: expected 0 or more", initial)
	}
	o.Cluster.InitialReplicas = int32(initial)
	if o.Cluster.SyncPeriod <= 0 {
		return o, fmt.Errorf("--hpa-sync-period %s: expected more than 0", o.Cluster.SyncPeriod)
	}
	if o.Cluster.Tolerance < 0 {
		return o, fmt.Errorf("--hpa-tolerance %g: expected 0 or more", o.Cluster.Tolerance)
	}
	if o.Duration < 0 {
		return o, fmt.Errorf("--duration %s: expected 0 or more", o.Duration)
	}
	if o.Plot != "" && !strings.HasSuffix(strings.ToLower(o.Plot), ".png") {
		return o, fmt.Errorf("--plot %q: the chart is a PNG; name the file *.png", o.Plot)
	}
	if o.Prometheus.URL == "" && len(queries) > 0 {
		return o, fmt.Errorf("--query needs --prometheus <URL>")
	}
	if o.Prometheus.URL != "" {
		var err error
		if o.Prometheus.Start, err = simulate.ParseTime(start, now); err != nil {
			return o, fmt.Errorf("--start %w", err)
		}
		if o.Prometheus.End, err = simulate.ParseTime(end, now); err != nil {
			return o, fmt.Errorf("--end %w", err)
		}
		for _, q := range queries {
			name, query := splitNamed(q)
			o.Prometheus.Queries = append(o.Prometheus.Queries, simulate.NamedQuery{Trigger: name, Query: query})
		}
	}
	return o, nil
}
