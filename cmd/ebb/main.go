// Command ebb is Ebb's command line. For now it has one command, demo, which
// runs Ebb end to end on this machine: a local control plane with the real
// HPA, the operator in process, an event source, and a burst of work that
// scales a Deployment 0 → N → 0 live in the terminal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr/funcr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	// controller-runtime's envtest logs through this; errors only.
	ctrllog.SetLogger(funcr.New(func(prefix, args string) {
		fmt.Fprintln(os.Stderr, prefix, args)
	}, funcr.Options{}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `ebb is Ebb's command line: event-driven autoscaling for Kubernetes.

Usage:
  ebb demo [flags]   scale a Deployment 0 → N → 0 on a burst of work, live, on a local control plane
  ebb help           show this help

Run 'ebb <command> --help' for a command's flags.
`

// run runs the command in args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "demo":
		err = demoCommand(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ebb: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ebb %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
