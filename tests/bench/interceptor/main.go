// SPDX-License-Identifier: Apache-2.0

// Command interceptor measures what ebb-interceptor costs: requests per
// second and latency (p50, p99) through the interceptor against the same
// requests sent to the backend directly, on loopback, at several numbers of
// concurrent keep-alive connections.
//
// Each part is its own process: the load generator (wrk, from Debian's
// package), the real ebb-interceptor binary (built from cmd/ebb-interceptor,
// a routes file with one route and no Service, so nothing gates it), and a
// small Go HTTP backend that answers 2 bytes, after a fixed service time
// when -delay says so (this same program, re-executed with the argument
// "backend"). Direct and interceptor runs alternate, so that the machine's
// other load falls on both alike; each figure is the median of -runs runs.
//
//	go run ./tests/bench/interceptor -runs 5 -duration 5s -delays 0,1ms,1ms-cpu -pin none
//
// -pin none lets every process use every core; -pin proxy gives the
// interceptor core 1 to itself and puts the load generator and the backend
// on core 0 (for the direct runs too), as when the interceptor runs in its
// own pod. Docs: docs/benchmarks.md, section Interceptor.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "backend" {
		if err := backend(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "backend:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// backend serves GET / with "ok" after delay, until killed.
func backend(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	delay := fs.Duration("delay", 0, "service time of each request")
	busy := fs.Bool("busy", false, "spend the service time computing rather than waiting")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d := *delay
	var iters int // of work(), for d of CPU time
	if *busy && d > 0 {
		iters = calibrate(d)
	}
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case iters > 0:
			_ = work(iters)
		case d > 0:
			time.Sleep(d)
		}
		_, _ = io.WriteString(w, "ok")
	})}
	return srv.ListenAndServe()
}

// service is the backend's service time per request: waited (a backend
// waiting on its database) or computed (busy).
type service struct {
	d    time.Duration
	busy bool
}

func (s service) String() string {
	switch {
	case s.d == 0:
		return "2 bytes at once"
	case s.busy:
		return fmt.Sprintf("2 bytes after %s of CPU", s.d)
	}
	return fmt.Sprintf("2 bytes after %s waiting", s.d)
}

type options struct {
	runs        int
	duration    time.Duration
	warmup      time.Duration
	conns       []int
	delays      []service
	pin         string
	threads     int
	interceptor string
	wrk         string
	proxyEnv    []string
	proxyArgs   []string
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.runs, "runs", 5, "runs of each configuration; figures are their median")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of one run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured run before the first run of each configuration")
	conns := fs.String("conns", "1,64,256", "concurrent connections, comma-separated")
	delays := fs.String("delays", "0,1ms", "backend service times, comma-separated; a suffix -cpu spends it computing (e.g. 1ms-cpu), else waiting")
	fs.StringVar(&o.pin, "pin", "none", "none: every process on every core; proxy: the interceptor alone on core 1, wrk and the backend on core 0")
	fs.IntVar(&o.threads, "threads", 1, "wrk threads (at most the connections)")
	fs.StringVar(&o.interceptor, "interceptor", "", "ebb-interceptor binary; empty: go build ./cmd/ebb-interceptor")
	fs.StringVar(&o.wrk, "wrk", "wrk", "wrk binary (apt-get install wrk)")
	penv := fs.String("proxy-env", "", "extra environment of the interceptor, comma-separated (e.g. GOGC=400)")
	pargs := fs.String("proxy-args", "", "extra arguments of the interceptor, space-separated")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, s := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-conns: %q is not a positive number", s)
		}
		o.conns = append(o.conns, n)
	}
	for _, s := range strings.Split(*delays, ",") {
		v, busy := strings.CutSuffix(strings.TrimSpace(s), "-cpu")
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return o, fmt.Errorf("-delays: %q is not a duration such as 0, 1ms or 1ms-cpu", s)
		}
		o.delays = append(o.delays, service{d: d, busy: busy})
	}
	if o.pin != "none" && o.pin != "proxy" {
		return o, fmt.Errorf("-pin %q: expected none or proxy", o.pin)
	}
	if o.runs < 1 {
		return o, errors.New("-runs must be at least 1")
	}
	if *penv != "" {
		o.proxyEnv = strings.Split(*penv, ",")
	}
	o.proxyArgs = strings.Fields(*pargs)
	return o, nil
}

func run(args []string, out io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath(o.wrk); err != nil {
		return fmt.Errorf("the load generator wrk is missing (apt-get install wrk): %w", err)
	}
	dir, err := os.MkdirTemp("", "ebb-bench-interceptor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.interceptor == "" {
		o.interceptor = filepath.Join(dir, "ebb-interceptor")
		build := exec.Command("go", "build", "-o", o.interceptor, "github.com/ebbscale/ebb/cmd/ebb-interceptor")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build ebb-interceptor: %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "machine: %d cores, %s; %s\n", nproc(), cpuModel(), goVersion())
	fmt.Fprintf(out, "pin %s, wrk -t %d, %d runs of %s each, load average at start %s\n",
		o.pin, o.threads, o.runs, o.duration, loadAvg())
	var rows []row
	for _, delay := range o.delays {
		rs, err := measureDelay(o, dir, self, delay, out)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	fmt.Fprintf(out, "load average at end %s\n\n", loadAvg())
	printTable(out, rows)
	return nil
}

// cores returns taskset's core list for a part, or "" for no pinning.
func (o options) cores(part string) string {
	if o.pin == "none" {
		return ""
	}
	if part == "proxy" {
		return "1"
	}
	return "0"
}

func command(cores, name string, args ...string) *exec.Cmd {
	if cores == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", cores, name}, args...)...)
}

// process is a started part, stopped by stop.
type process struct {
	cmd  *exec.Cmd
	done chan error
}

func start(cmd *exec.Cmd, logFile string) (*process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	return p, nil
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP waits until url answers 200, or p exits, or 30 s pass.
func waitHTTP(url string, p *process, logFile string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.done:
			log, _ := os.ReadFile(logFile)
			return fmt.Errorf("%s exited (%v) before %s answered: %s", p.cmd.Path, err, url, log)
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer 200 within 30 s (last error: %v)", url, err)
		case <-tick.C:
		}
	}
}

// row is one configuration's medians.
type row struct {
	delay       service
	conns       int
	direct, via result
}

func measureDelay(o options, dir, self string, delay service, out io.Writer) ([]row, error) {
	bport, err := freePort()
	if err != nil {
		return nil, err
	}
	backendURL := fmt.Sprintf("http://127.0.0.1:%d", bport)
	blog := filepath.Join(dir, "backend.log")
	b, err := start(command(o.cores("backend"), self, "backend", "-addr", fmt.Sprintf("127.0.0.1:%d", bport), "-delay", delay.d.String(), fmt.Sprintf("-busy=%t", delay.busy)), blog)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	if err := waitHTTP(backendURL+"/", b, blog); err != nil {
		return nil, err
	}

	routes := filepath.Join(dir, "routes.json")
	if err := os.WriteFile(routes, fmt.Appendf(nil, `{"routes": [{"name": "bench", "host": "*", "backend": %q}]}`, backendURL), 0o600); err != nil {
		return nil, err
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("bench-token\n"), 0o600); err != nil {
		return nil, err
	}
	pport, err := freePort()
	if err != nil {
		return nil, err
	}
	aport, err := freePort()
	if err != nil {
		return nil, err
	}
	proxyURL := fmt.Sprintf("http://127.0.0.1:%d", pport)
	args := append([]string{"--routes", routes, "--token-file", token,
		"--proxy-address", fmt.Sprintf("127.0.0.1:%d", pport), "--admin-address", fmt.Sprintf("127.0.0.1:%d", aport)}, o.proxyArgs...)
	pc := command(o.cores("proxy"), o.interceptor, args...)
	pc.Env = append(os.Environ(), o.proxyEnv...)
	plog := filepath.Join(dir, "interceptor.log")
	p, err := start(pc, plog)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	if err := waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/healthz", aport), p, plog); err != nil {
		return nil, err
	}

	var rows []row
	for _, c := range o.conns {
		var direct, via []result
		for _, target := range []string{backendURL, proxyURL} {
			if _, err := o.wrkRun(target, c, o.warmup, b, nil); err != nil {
				return nil, err
			}
		}
		for i := 0; i < o.runs; i++ {
			d, err := o.wrkRun(backendURL, c, o.duration, b, nil)
			if err != nil {
				return nil, err
			}
			v, err := o.wrkRun(proxyURL, c, o.duration, b, p)
			if err != nil {
				return nil, err
			}
			direct, via = append(direct, d), append(via, v)
			fmt.Fprintf(out, "delay %s conns %d run %d: direct %s | interceptor %s | load %s\n", delay, c, i+1, d, v, loadAvg())
		}
		rows = append(rows, row{delay: delay, conns: c, direct: median(direct), via: median(via)})
	}
	return rows, nil
}

// result is one wrk run.
type result struct {
	rps      float64
	p50, p99 time.Duration
	requests int64
	// CPU time per request of the load generator, the backend and the
	// interceptor (0 in direct runs).
	wrkCPU, backendCPU, proxyCPU time.Duration
}

func (r result) String() string {
	s := fmt.Sprintf("%.0f req/s p50 %s p99 %s cpu/req wrk %s backend %s", r.rps, fmtDur(r.p50), fmtDur(r.p99), fmtDur(r.wrkCPU), fmtDur(r.backendCPU))
	if r.proxyCPU > 0 {
		s += " proxy " + fmtDur(r.proxyCPU)
	}
	return s
}

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	dur := func(f func(result) time.Duration) time.Duration {
		return time.Duration(pick(func(r result) float64 { return float64(f(r)) }))
	}
	return result{
		rps:        pick(func(r result) float64 { return r.rps }),
		p50:        dur(func(r result) time.Duration { return r.p50 }),
		p99:        dur(func(r result) time.Duration { return r.p99 }),
		wrkCPU:     dur(func(r result) time.Duration { return r.wrkCPU }),
		backendCPU: dur(func(r result) time.Duration { return r.backendCPU }),
		proxyCPU:   dur(func(r result) time.Duration { return r.proxyCPU }),
	}
}

// wrkRun runs wrk against url and measures the CPU time the backend and,
// when it is not nil, the proxy spend meanwhile.
func (o options) wrkRun(url string, conns int, d time.Duration, backend, proxy *process) (result, error) {
	threads := min(o.threads, conns)
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := command(o.cores("wrk"), o.wrk, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", secs), "--timeout", "10s", "--latency", url+"/")
	b0, p0 := backend.cpu(), proxy.cpu()
	outb, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %w: %s", url, err, outb)
	}
	b1, p1 := backend.cpu(), proxy.cpu()
	r, err := parseWrk(string(outb))
	if err != nil {
		return r, err
	}
	n := time.Duration(r.requests)
	r.wrkCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()) / n
	r.backendCPU = (b1 - b0) / n
	if proxy != nil {
		r.proxyCPU = (p1 - p0) / n
	}
	return r, nil
}

// cpu is the user and system time p has used so far (0 for no process).
func (p *process) cpu() time.Duration {
	if p == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at
	// state; utime and stime are the 14th and 15th fields overall.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's times.
const clockTicks = 100

// parseWrk reads Requests/sec and the 50 % and 99 % latencies of wrk
// --latency, and refuses a run with socket errors or non-2xx answers.
func parseWrk(s string) (result, error) {
	var r result
	var err error
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) > 2 && f[1] == "requests" && f[2] == "in":
			r.requests, err = strconv.ParseInt(f[0], 10, 64)
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.rps, err = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "50%":
			r.p50, err = parseWrkDur(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.p99, err = parseWrkDur(f[1])
		case len(f) > 0 && (f[0] == "Socket" || f[0] == "Non-2xx"):
			return r, fmt.Errorf("wrk reported errors: %s", strings.TrimSpace(sc.Text()))
		}
		if err != nil {
			return r, fmt.Errorf("wrk output line %q: %w", sc.Text(), err)
		}
	}
	if r.rps == 0 || r.requests == 0 || r.p50 == 0 || r.p99 == 0 {
		return r, fmt.Errorf("wrk output without Requests/sec or latency distribution:\n%s", s)
	}
	return r, nil
}

// parseWrkDur reads wrk's durations: 43.00us, 1.20ms, 2.00s.
func parseWrkDur(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("unknown unit in %q", s)
}

func fmtDur(d time.Duration) string {
	if d < time.Millisecond && d > -time.Millisecond {
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func printTable(out io.Writer, rows []row) {
	fmt.Fprintln(out, "| backend | connections | direct req/s | interceptor req/s | share | direct p50 / p99 | interceptor p50 / p99 | added p50 | CPU per request: wrk + backend direct / via, interceptor |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(out, "| %s | %d | %.0f | %.0f | %.0f %% | %s / %s | %s / %s | %s | %s / %s, %s |\n",
			r.delay, r.conns, r.direct.rps, r.via.rps, 100*r.via.rps/r.direct.rps,
			fmtDur(r.direct.p50), fmtDur(r.direct.p99), fmtDur(r.via.p50), fmtDur(r.via.p99),
			fmtDur(r.via.p50-r.direct.p50),
			fmtDur(r.direct.wrkCPU+r.direct.backendCPU), fmtDur(r.via.wrkCPU+r.via.backendCPU), fmtDur(r.via.proxyCPU))
	}
}

func nproc() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "go (unknown version)"
	}
	return strings.TrimSpace(string(out))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// work hashes a small block n times: a fixed amount of computation.
func work(n int) uint32 {
	var b [64]byte
	var h uint32
	for i := 0; i < n; i++ {
		b[i%64]++
		h ^= crc32.ChecksumIEEE(b[:])
	}
	return h
}

// calibrate returns how many iterations of work take d of CPU time, measured
// on this thread's CPU clock (so that time spent waiting for a core does not
// count).
func calibrate(d time.Duration) int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := 1000
	for {
		start := threadCPU()
		_ = work(n) // calls crc32's assembly: not optimized away
		took := threadCPU() - start
		if took >= 50*time.Millisecond {
			return max(1, int(float64(n)*float64(d)/float64(took)))
		}
		n *= 2
	}
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	// CLOCK_THREAD_CPUTIME_ID is 3 on Linux.
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}
