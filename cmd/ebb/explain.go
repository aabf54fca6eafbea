// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ebbscale/ebb/cmd/ebb/internal/explain"
)

// explainCommand runs `ebb explain namespace/name`: it reads the
// ScaledObject, its target's /scale, its HPA and their events from the
// cluster and prints why the target has the replicas it has.
func explainCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ebb explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: ebb explain [flags] namespace/name

Tells why ScaledObject namespace/name's target has the replicas it has: a one-line verdict,
then the facts behind it — the target's replicas (its /scale), the ScaledObject's range and
conditions, each trigger's value, target, activation threshold and health as Ebb's status
records them, the HPA Ebb owns (its range, metrics, the arithmetic of its desired count, its
tolerance, conditions and stabilization windows), the state of the way to zero (last active
time, cooldown remaining, pause, fallback) and the recent Events, newest last.

It reads the cluster of the kubeconfig: --kubeconfig, else $KUBECONFIG, else ~/.kube/config.

Flags:
`)
		fs.PrintDefaults()
	}
	kubeconfig := fs.String("kubeconfig", "", "path of the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	kubeContext := fs.String("context", "", "kubeconfig context to use (default: its current context)")
	output := fs.String("o", "text", "output format: text or json")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on the API server after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("-o %q: want text or json", *output)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("want one argument, namespace/name of a ScaledObject; got %d", fs.NArg())
	}
	ns, name, ok := strings.Cut(fs.Arg(0), "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("argument %q: want namespace/name of a ScaledObject, e.g. shop/worker", fs.Arg(0))
	}

	cfg, err := explain.Config(*kubeconfig, *kubeContext, os.Getenv)
	if err != nil {
		return err
	}
	c, err := explain.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	facts, err := explain.Gather(ctx, c, ns, name)
	if err != nil {
		return err
	}
	r := explain.Explain(facts, time.Now())
	if *output == "json" {
		return r.WriteJSON(stdout)
	}
	return r.WriteText(stdout)
}
