// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ebbscale/ebb/cmd/ebb/internal/demo"
)

func demoCommand(ctx context.Context, args []string, stdout, stderr io.Writer, libLog *switchWriter) error {
	o, err := parseDemoFlags(args, stderr)
	if err != nil {
		return err
	}
	if libLog != nil {
		o.LibraryLog = libLog
	}
	_, err = demo.Run(ctx, stdout, o)
	return err
}

// parseDemoFlags reads the flags of `ebb demo` over demo.DefaultOptions.
func parseDemoFlags(args []string, stderr io.Writer) (demo.Options, error) {
	o := demo.DefaultOptions()
	fs := flag.NewFlagSet("ebb demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: ebb demo [flags]

Runs Ebb end to end on this machine and shows it live: a local control plane (etcd,
kube-apiserver, kube-controller-manager with the real HPA), Ebb's operator in this process
(controller, scale loop, metrics adapter), and an event source. It creates Deployment demo/worker
at 0 replicas and a ScaledObject for it, produces a burst of work that a simulated consumer
drains at a fixed rate per replica, and shows the lag, the metric the HPA reads, the HPA's
desired count and the replicas going 0 → N → 0; then a summary. It ends by itself once back
at zero; Ctrl-C stops it at any point. Nothing is left running.

With --cluster the worker runs as real pods on a real node of this machine (containerd, runc,
the kubelet, kube-proxy, kube-scheduler, CoreDNS; root needed, and the Debian packages that
tests/services.sh installs): each Ready pod consumes --rate items/s, and the display shows the
pods Ready next to the replicas. The first run builds the node's binaries (several minutes) and
the worker image; then it takes about as long as without. Sources: kafka and rabbitmq.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Source, "source", o.Source, "event source: kafka (an in-process broker), rabbitmq or postgresql (running ones, see --rabbitmq-url, --postgresql-url)")
	fs.StringVar(&o.RabbitMQURL, "rabbitmq-url", o.RabbitMQURL, "RabbitMQ for --source rabbitmq")
	fs.StringVar(&o.PostgreSQLURL, "postgresql-url", o.PostgreSQLURL, "PostgreSQL for --source postgresql")
	fs.StringVar(&o.RedisAddress, "redis-address", o.RedisAddress, "Redis (host:port) for --source redis")
	fs.StringVar(&o.NATSURL, "nats-url", o.NATSURL, "NATS server with JetStream for --source nats")
	fs.IntVar(&o.Records, "records", o.Records, "records in the burst")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "records each replica consumes per second")
	fs.IntVar(&o.Target, "target", o.Target, "records per replica the HPA aims for (the trigger's lagThreshold, value or targetQueryValue)")
	var maxReplicas int
	fs.IntVar(&maxReplicas, "max-replicas", int(o.MaxReplicas), "the ScaledObject's maxReplicaCount (and, for kafka, the topic's partitions)")
	fs.DurationVar(&o.PollingInterval, "polling-interval", o.PollingInterval, "the ScaledObject's pollingInterval (whole seconds)")
	fs.DurationVar(&o.Cooldown, "cooldown", o.Cooldown, "the ScaledObject's cooldownPeriod (whole seconds)")
	fs.DurationVar(&o.ExitAfter, "exit-after", o.ExitAfter, "stop this long after the burst if not back at zero by then, e.g. 2m (0: no limit)")
	fs.BoolVar(&o.Cluster, "cluster", o.Cluster, "run the worker as real pods on a local node (root; kafka and rabbitmq)")
	fs.StringVar(&o.Plot, "plot", o.Plot, "write a PNG chart of the lag and the replicas over time to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if maxReplicas < 1 || maxReplicas > 100 {
		return o, fmt.Errorf("--max-replicas %d: want 1 to 100", maxReplicas)
	}
	o.MaxReplicas = int32(maxReplicas)
	if o.Plot != "" && !strings.HasSuffix(strings.ToLower(o.Plot), ".png") {
		return o, fmt.Errorf("--plot %q: the chart is a PNG; name the file *.png", o.Plot)
	}
	return o, o.Validate()
}
