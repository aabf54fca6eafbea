// SPDX-License-Identifier: Apache-2.0

// Command ebb-scalebench measures Ebb's controller with many ScaledObjects:
// for each run (in a process of its own when there are several) it starts a
// fresh control plane (etcd + kube-apiserver, no kube-controller-manager),
// runs the operator in that process with
// cmd/ebb-operator's defaults, creates N Deployments and N ScaledObjects on
// RabbitMQ queues and reports the time until every HPA exists and every
// ScaledObject is Ready, the API requests and reconcile passes per
// ScaledObject, the broker connections and the memory per ScaledObject.
//
//	go run ./tests/scale/cmd/ebb-scalebench -n 1000 -runs 3
//
// It needs the control plane binaries (make tools) and RabbitMQ on
// 127.0.0.1:5672 (make services).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/scale"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ebb-scalebench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("ebb-scalebench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	n := fs.Int("n", 1000, "ScaledObjects (and Deployments) per run")
	runs := fs.Int("runs", 1, "runs, each in a fresh process on a fresh control plane; the medians are reported")
	replicas := fs.Int("replicas", 0, "replicas of each Deployment when created (0: resting at zero; 1 with an empty queue: Ebb scales each to zero)")
	messages := fs.Int("messages", 0, "messages put in each queue first (above 5 the triggers are active)")
	queues := fs.Int("queues", 1, "queues the triggers share")
	qps := fs.Float64("qps", 200, "the operator's API client QPS")
	burst := fs.Int("burst", 400, "the operator's API client burst")
	reconciles := fs.Int("reconciles", 32, "the operator's MaxConcurrentReconciles")
	pollWorkers := fs.Int("poll-workers", 64, "the operator's poll workers")
	strip := fs.Bool("strip-managed-fields", true, "drop managedFields from the operator's informer cache, as cmd/ebb-operator does")
	warmup := fs.Int("warmup", 10, "ScaledObjects made Ready before the measurement (one-time costs); -1: none")
	steady := fs.Duration("steady", 0, "also measure the steady state for this long after every ScaledObject is Ready")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up waiting for Ready after this long")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process during the (last) run to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile of this process once every ScaledObject is Ready to this file")
	apiProfile := fs.String("apiserver-profile", "", "write a 30 s CPU profile of kube-apiserver from the first create on to this file")
	verbose := fs.Bool("v", false, "print the operator's logs")
	quiet := fs.Bool("q", false, "no progress lines")
	child := fs.Bool("child-json", false, "(internal) one run, its result as JSON on stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runs > 1 && !*child {
		// Each run in a fresh process, so that one run's heap does not
		// flatter the next one's memory figures.
		return runChildren(ctx, args, *runs, out, errOut)
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 4096 // a finer profile than the default 512 KiB
	}

	// Components that log through controller-runtime's global logger
	// (rather than the manager's) stay quiet unless -v.
	ctrl.SetLogger(logr.Discard())
	var results []scale.Result
	for i := 1; i <= *runs; i++ {
		o := scale.Options{
			N: *n, Replicas: int32(*replicas), Messages: *messages, Queues: *queues,
			QPS: float32(*qps), Burst: *burst, MaxConcurrentReconciles: *reconciles, PollWorkers: *pollWorkers,
			Steady: *steady, Timeout: *timeout, StripManagedFields: *strip, Warmup: *warmup,
		}
		if !*quiet {
			o.Progress = func(format string, args ...any) {
				fmt.Fprintf(errOut, "%s run %d: %s\n", time.Now().Format("15:04:05"), i, fmt.Sprintf(format, args...))
			}
		}
		if *verbose {
			o.Logger = funcr.New(func(prefix, args string) { fmt.Fprintln(errOut, prefix, args) }, funcr.Options{Verbosity: 1})
			ctrl.SetLogger(o.Logger)
		}
		if *memProfile != "" {
			o.OnMeasured = func() {
				if f, err := os.Create(*memProfile); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
		}
		res, err := oneRun(ctx, o, *cpuProfile, *apiProfile)
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		if *child {
			return json.NewEncoder(out).Encode(res)
		}
		results = append(results, res)
		fmt.Fprintf(out, "run %d: %s\n", i, summary(res))
	}
	report(out, results)
	return nil
}

// runChildren runs this command once per run in a child process and reports
// on the results.
func runChildren(ctx context.Context, args []string, runs int, out, errOut io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var results []scale.Result
	for i := 1; i <= runs; i++ {
		cmd := exec.CommandContext(ctx, exe, append(append([]string(nil), args...), "-runs=1", "-child-json")...)
		cmd.Stderr = errOut
		data, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		var res scale.Result
		if err := json.Unmarshal(data, &res); err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		results = append(results, res)
		fmt.Fprintf(out, "run %d: %s\n", i, summary(res))
	}
	report(out, results)
	return nil
}

// report prints the medians of the runs' figures and the details of the run
// with the median Ready time.
func report(out io.Writer, results []scale.Result) {
	med := func(f func(scale.Result) float64) string {
		v := make([]float64, len(results))
		for i, r := range results {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return strconv.FormatFloat(v[len(v)/2], 'f', 2, 64)
	}
	m := scale.Median(results)
	if len(results) > 1 {
		fmt.Fprintf(out, "\nmedians of %d runs: every HPA after %s s, every ScaledObject Ready after %s s; %s requests and %s reconcile passes per ScaledObject; RssAnon +%s KiB, heap +%s KiB per ScaledObject\n",
			len(results),
			med(func(r scale.Result) float64 { return r.HPAs.Seconds() }), med(func(r scale.Result) float64 { return r.Ready.Seconds() }),
			med(scale.Result.RequestsPerObject), med(scale.Result.ReconcilesPerObject),
			med(func(r scale.Result) float64 { return r.RSSPerObject() / 1024 }), med(func(r scale.Result) float64 { return r.HeapPerObject() / 1024 }))
	}
	fmt.Fprintf(out, "\nthe run with the median Ready time: %s\n", summary(m))
	fmt.Fprintf(out, "  requests by kind, per ScaledObject: %s\n", m.Requests.PerObject(m.N))
	fmt.Fprintf(out, "  operator start-up requests: %s\n", m.Startup)
	var lat []string
	for k, d := range m.Latency {
		if m.Requests[k] > 0 && !strings.HasPrefix(k, "WATCH") {
			lat = append(lat, fmt.Sprintf("%s %s", k, d.Round(100*time.Microsecond)))
		}
	}
	sort.Strings(lat)
	fmt.Fprintf(out, "  mean request latency: %s\n", strings.Join(lat, ", "))
	if m.SteadyWindow > 0 {
		fmt.Fprintf(out, "  steady state over %s: %.1f requests/s (%s); CPU %.0f%% of a core in this process, %.0f%% in the control plane\n",
			m.SteadyWindow.Round(time.Second), m.SteadyRequestsPerSecond(), m.SteadyRequests,
			100*m.SteadyCPU.Seconds()/m.SteadyWindow.Seconds(), 100*m.SteadyControlPlaneCPU.Seconds()/m.SteadyWindow.Seconds())
	}
	var ready []string
	for _, r := range results {
		ready = append(ready, r.Ready.Round(10*time.Millisecond).String())
	}
	fmt.Fprintf(out, "  Ready times of the runs: %s\n", strings.Join(ready, ", "))
}

func oneRun(ctx context.Context, o scale.Options, cpuProfile, apiProfile string) (scale.Result, error) {
	cp, err := controlplane.New(ctx, controlplane.Options{})
	if err != nil {
		return scale.Result{}, err
	}
	defer cp.Stop()
	o.Config, o.Scheme = cp.Config, cp.Scheme
	o.ProcessPIDs, _ = controlplane.Processes(cp.Dir)
	if apiProfile != "" {
		done := make(chan error, 1)
		o.OnStart = func() { go func() { done <- fetchProfile(ctx, cp.Config, apiProfile) }() }
		defer func() {
			if err := <-done; err != nil {
				fmt.Fprintln(os.Stderr, "kube-apiserver profile:", err)
			}
		}()
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return scale.Result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return scale.Result{}, err
		}
		defer pprof.StopCPUProfile()
	}
	return scale.Run(ctx, o)
}

// fetchProfile writes a 30 s CPU profile of kube-apiserver (its
// /debug/pprof, open to system:masters) to file.
func fetchProfile(ctx context.Context, cfg *rest.Config, file string) error {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/debug/pprof/profile?seconds=30", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func summary(r scale.Result) string {
	var failed []string
	for k, v := range r.Requests {
		if k != "" && k[0] >= '0' && k[0] <= '9' {
			failed = append(failed, fmt.Sprintf("%s=%d", k, v))
		}
	}
	sort.Strings(failed)
	s := summaryLine(r)
	if len(failed) > 0 {
		s += "; failed requests (counted above too): " + strings.Join(failed, ", ")
	}
	return s
}

func summaryLine(r scale.Result) string {
	return fmt.Sprintf("N=%d created in %s; every HPA after %s, every ScaledObject Ready after %s; %.2f requests and %.2f reconcile passes per ScaledObject; %d pooled broker connection(s), %d AMQP socket(s); RssAnon +%.1f KiB, heap +%.1f KiB per ScaledObject; CPU to Ready: %.1f s operator+bench, %.1f s etcd+apiserver",
		r.N, r.Created.Round(time.Millisecond), r.HPAs.Round(time.Millisecond), r.Ready.Round(time.Millisecond),
		r.RequestsPerObject(), r.ReconcilesPerObject(), r.PoolConnections, r.BrokerSockets,
		r.RSSPerObject()/1024, r.HeapPerObject()/1024, r.CPU.Seconds(), r.ControlPlaneCPU.Seconds())
}
