// SPDX-License-Identifier: Apache-2.0

// Command ebb is Ebb's command line:
//   - demo runs Ebb end to end on this machine: a local control plane with
//     the real HPA, the operator in process, an event source, and a burst of
//     work that scales a Deployment 0 → N → 0 live in the terminal;
//   - simulate replays a metric series through Ebb's decisions and a model
//     of the HPA, to tune a ScaledObject before deploying it;
//   - explain tells why a live ScaledObject's target has the replicas it has;
//   - convert rewrites KEDA objects as Ebb's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	// Libraries log through process-wide loggers: klog (client-go, the
	// metrics adapter's API server) and controller-runtime's root logger
	// (envtest). To stderr, until a command points them elsewhere (the demo
	// points them at its log file, away from its display).
	libLog := &switchWriter{w: os.Stderr}
	logger := funcr.New(func(prefix, args string) {
		fmt.Fprintln(libLog, prefix, args)
	}, funcr.Options{})
	ctrllog.SetLogger(logger)
	klog.SetLogger(logger)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, libLog)
	stop()
	os.Exit(code)
}

// switchWriter writes to a writer that can be swapped at any time, from any
// goroutine.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Redirect makes w the writer and returns the previous one.
func (s *switchWriter) Redirect(w io.Writer) io.Writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.w
	s.w = w
	return prev
}

const usage = `ebb is Ebb's command line: event-driven autoscaling for Kubernetes.

Usage:
  ebb demo [flags]                     scale a Deployment 0 → N → 0 on a burst of work, live, on a local control plane
  ebb simulate [flags] scaledobject.yaml  replay a metric series through Ebb and a model of the HPA: replicas over time
  ebb explain [flags] namespace/name    why a ScaledObject's target has the replicas it has (live cluster)
  ebb convert [flags] [file...]         rewrite KEDA ScaledObjects, ScaledJobs and TriggerAuthentications as Ebb's
  ebb help                             show this help

Run 'ebb <command> --help' for a command's flags.
`

// run runs the command in args and returns the process exit code. libLog,
// when set, receives the libraries' process-wide logs.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, libLog *switchWriter) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "demo":
		err = demoCommand(ctx, args[1:], stdout, stderr, libLog)
	case "simulate":
		err = simulateCommand(ctx, args[1:], stdout, stderr)
	case "explain":
		err = explainCommand(ctx, args[1:], stdout, stderr)
	case "convert":
		err = convertCommand(ctx, args[1:], stdin, stdout, stderr)
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
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			return coded.ExitCode()
		}
		return 1
	}
	return 0
}
