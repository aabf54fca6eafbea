// SPDX-License-Identifier: Apache-2.0

package promharness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinaryEnv names an environment variable that, when set, is the path of the
// prometheus binary to run instead of the one found in PATH.
const BinaryEnv = "EBB_PROMETHEUS"

// installHint says how to get the binary; every "not found" failure shows it.
const installHint = "install it with `apt-get install -y --no-install-recommends prometheus` " +
	"(`make test` does it through tests/services.sh), or set " + BinaryEnv + " to its path"

// Options say how Start runs Prometheus. The zero value is usable.
type Options struct {
	// JobName is the scrape job of the targets, the `job` label of their
	// series. Default "ebb-test".
	JobName string
	// ScrapeInterval is the scrape (and rule evaluation) interval. Default 1 s.
	ScrapeInterval time.Duration
	// StartTimeout bounds the wait for /-/ready. Default 60 s.
	StartTimeout time.Duration
	// WaitTimeout bounds WaitForQuery. Default 30 s.
	WaitTimeout time.Duration
	// Binary is the prometheus binary. Default $EBB_PROMETHEUS, else
	// `prometheus` from PATH.
	Binary string
}

// Option changes the Options of StartWith.
type Option func(*Options)

// WithJobName sets the scrape job name (the `job` label of the targets).
func WithJobName(name string) Option { return func(o *Options) { o.JobName = name } }

// WithScrapeInterval sets the scrape and evaluation interval.
func WithScrapeInterval(d time.Duration) Option { return func(o *Options) { o.ScrapeInterval = d } }

// WithWaitTimeout sets how long WaitForQuery polls before it fails the test.
func WithWaitTimeout(d time.Duration) Option { return func(o *Options) { o.WaitTimeout = d } }

// WithBinary runs the given prometheus binary.
func WithBinary(path string) Option { return func(o *Options) { o.Binary = path } }

// Prometheus is a running Prometheus server owned by one test.
type Prometheus struct {
	opts    Options
	addr    string // host:port it listens on
	dir     string
	logPath string
	client  *http.Client

	proc     *process
	stopOnce sync.Once
	stopErr  error
}

// Start runs Prometheus for the test, scraping the given host:port targets
// every second under the job "ebb-test", and waits until it is ready. It
// stops Prometheus when the test ends (printing its log if the test failed).
// A missing prometheus binary fails the test with a message saying how to
// install it.
func Start(t testing.TB, scrapeTargets ...string) *Prometheus {
	t.Helper()
	return StartWith(t, scrapeTargets)
}

// StartWith is Start with options, such as WithJobName.
func StartWith(t testing.TB, scrapeTargets []string, opts ...Option) *Prometheus {
	t.Helper()
	o := Options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.JobName == "" {
		o.JobName = "ebb-test"
	}
	if o.ScrapeInterval <= 0 {
		o.ScrapeInterval = time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 30 * time.Second
	}
	bin, err := findBinary(o.Binary)
	if err != nil {
		t.Fatalf("promharness: %v", err)
	}
	o.Binary = bin
	for _, target := range scrapeTargets {
		if _, _, err := net.SplitHostPort(target); err != nil {
			t.Fatalf("promharness: scrape target %q is not host:port: %v", target, err)
		}
	}

	// The folder is created before the stop is registered, so the stop runs
	// first at cleanup and the folder is removed after Prometheus exits.
	dir := t.TempDir()
	p := &Prometheus{
		opts:    o,
		dir:     dir,
		logPath: filepath.Join(dir, "prometheus.log"),
		client:  &http.Client{Timeout: 10 * time.Second},
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(configYAML(o, scrapeTargets)), 0o600); err != nil {
		t.Fatalf("promharness: write the configuration: %v", err)
	}
	t.Cleanup(func() {
		err := p.Stop()
		if t.Failed() {
			t.Logf("promharness: prometheus log (%s):\n%s", p.logPath, p.Log())
		}
		if err != nil {
			t.Errorf("promharness: stop prometheus: %v", err)
		}
	})

	// A free port can be taken by someone else between our probe and
	// Prometheus's bind; try a few.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		lastErr = p.start(cfgPath)
		if lastErr == nil {
			return p
		}
		if !errors.Is(lastErr, errAddrInUse) {
			break
		}
	}
	t.Fatalf("promharness: start prometheus: %v\nlog:\n%s", lastErr, p.Log())
	return nil
}

var errAddrInUse = errors.New("address already in use")

func (p *Prometheus) start(cfgPath string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	p.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open the log: %w", err)
	}
	defer logFile.Close() // the child has its own copy of the descriptor
	logStart := 0
	if fi, err := logFile.Stat(); err == nil {
		logStart = int(fi.Size())
	}
	tsdb := filepath.Join(p.dir, "data-"+strconv.Itoa(port))
	cmd := exec.Command(p.opts.Binary,
		"--config.file="+cfgPath,
		"--web.listen-address="+p.addr,
		"--storage.tsdb.path="+tsdb,
		"--storage.tsdb.retention.time=1h",
		"--log.level=info",
	)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that Stop kills everything it started.
		Setpgid: true,
		// Killed with the test binary, even on SIGKILL or a -timeout panic.
		Pdeathsig: syscall.SIGKILL,
	}
	proc, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("run %s: %w", p.opts.Binary, err)
	}
	p.proc = proc
	if err := p.waitReady(); err != nil {
		_ = proc.stop(10 * time.Second)
		if log := p.Log(); len(log) >= logStart && strings.Contains(log[logStart:], "address already in use") {
			return fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		return err
	}
	return nil
}

func (p *Prometheus) waitReady() error {
	deadline := time.Now().Add(p.opts.StartTimeout)
	var last string
	for {
		select {
		case <-p.proc.exited:
			return fmt.Errorf("prometheus exited before it was ready: %v", p.proc.err)
		default:
		}
		resp, err := p.client.Get(p.URL() + "/-/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prometheus on %s not ready after %s (last answer: %s)", p.addr, p.opts.StartTimeout, last)
		}
		select {
		case <-p.proc.exited:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// URL is the server's base URL, e.g. "http://127.0.0.1:41234".
func (p *Prometheus) URL() string { return "http://" + p.addr }

// Addr is the host:port the server listens on.
func (p *Prometheus) Addr() string { return p.addr }

// JobName is the scrape job of the targets.
func (p *Prometheus) JobName() string { return p.opts.JobName }

// Log returns what the server has logged so far.
func (p *Prometheus) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// Stop stops the server: SIGTERM to its process group, SIGKILL if it has not
// exited after 10 s. The test's cleanup calls it; calling it again is
// harmless.
func (p *Prometheus) Stop() error {
	p.stopOnce.Do(func() {
		if p.proc == nil {
			return
		}
		p.stopErr = p.proc.stop(10 * time.Second)
	})
	return p.stopErr
}

// Pid is the server's process id (and process group id).
func (p *Prometheus) Pid() int { return p.proc.cmd.Process.Pid }

// Query runs an instant query and returns its single value: the one sample of
// an instant vector, or a scalar. No series, several series, and other result
// types are errors.
func (p *Prometheus) Query(ctx context.Context, query string) (float64, error) {
	u := p.URL() + "/api/v1/query?" + url.Values{"query": {query}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, err
	}
	return singleValue(body)
}

// WaitForQuery polls the query until cond holds for its value, and fails the
// test if it does not within the wait timeout (30 s by default), showing the
// last value or error. A query with no series or several series keeps
// polling: series appear after a scrape.
func (p *Prometheus) WaitForQuery(t testing.TB, query string, cond func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(p.opts.WaitTimeout)
	last := "no answer yet"
	for {
		select {
		case <-p.proc.exited:
			t.Fatalf("promharness: prometheus exited (%v) while waiting for %q\nlog:\n%s", p.proc.err, query, p.Log())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := p.Query(ctx, query)
		cancel()
		if err == nil && cond(v) {
			return
		}
		if err != nil {
			last = "error: " + err.Error()
		} else {
			last = "value " + strconv.FormatFloat(v, 'g', -1, 64)
		}
		if time.Now().After(deadline) {
			t.Fatalf("promharness: query %q did not meet its condition within %s; last %s", query, p.opts.WaitTimeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// singleValue reads the one value of an instant-query answer.
func singleValue(body []byte) (float64, error) {
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("answer is not JSON: %v", err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("prometheus: %s: %s", r.ErrorType, r.Error)
	}
	var pair []json.RawMessage
	switch r.Data.ResultType {
	case "scalar":
		if err := json.Unmarshal(r.Data.Result, &pair); err != nil {
			return 0, err
		}
	case "vector":
		var samples []struct {
			Value []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &samples); err != nil {
			return 0, err
		}
		if len(samples) != 1 {
			return 0, fmt.Errorf("query returned %d series, want 1", len(samples))
		}
		pair = samples[0].Value
	default:
		return 0, fmt.Errorf("query returned a %s, want a vector or scalar", r.Data.ResultType)
	}
	if len(pair) != 2 {
		return 0, errors.New("sample is not [time, value]")
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(v) {
		return v, errors.New("value is NaN")
	}
	return v, nil
}

func configYAML(o Options, targets []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n",
		promDuration(o.ScrapeInterval), promDuration(o.ScrapeInterval), promDuration(o.ScrapeInterval))
	if len(targets) == 0 {
		b.WriteString("scrape_configs: []\n")
		return b.String()
	}
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: %s\n    static_configs:\n      - targets:\n", yamlString(o.JobName))
	for _, t := range targets {
		fmt.Fprintf(&b, "          - %s\n", yamlString(t))
	}
	return b.String()
}

// promDuration writes d in Prometheus's duration syntax (whole milliseconds).
func promDuration(d time.Duration) string {
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// yamlString quotes s; a JSON string is a YAML double-quoted scalar.
func yamlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func findBinary(path string) (string, error) {
	if path == "" {
		path = os.Getenv(BinaryEnv)
	}
	if path != "" {
		if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("prometheus binary %s is not an executable file; %s", path, installHint)
		}
		return path, nil
	}
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		return "", fmt.Errorf("the prometheus binary is not in PATH; %s", installHint)
	}
	return bin, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// process is a child in its own process group.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's result; set before exited is closed
}

// startProcess starts cmd from a goroutine locked to its OS thread, which
// stays in Wait until the child exits: the kernel delivers Pdeathsig when the
// thread that forked the child ends, so the thread must outlive the child.
func startProcess(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) error {
	pgid := p.cmd.Process.Pid
	select {
	case <-p.exited:
		// Leftovers of the group, if any, go too.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	default:
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal process group %d: %w", pgid, err)
	}
	select {
	case <-p.exited:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.exited:
		return fmt.Errorf("prometheus (pid %d) ignored SIGTERM for %s and was killed", pgid, grace)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("prometheus (pid %d) did not exit after SIGKILL", pgid)
	}
}
