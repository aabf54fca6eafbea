// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// The NATS server the tests read: the one with JetStream on the standard
// loopback port, without authentication or a monitoring port. Tests that
// need a monitoring endpoint, authentication or a server they can stop start
// their own (startServer).
const (
	natsAddr = "127.0.0.1:4222"
	natsURL  = "nats://" + natsAddr
	// natsServerBin is the nats-server binary of the development and CI
	// machines.
	natsServerBin = "/usr/sbin/nats-server"
)

// requireNATS stops the test when the shared NATS server is not reachable
// (scalertest.RequireService).
func requireNATS(t testing.TB) {
	t.Helper()
	scalertest.RequireService(t, "NATS with JetStream (nats-server -js)", natsAddr)
}

// requireServerBinary fails (CI) or skips the test when it cannot start its
// own nats-server.
func requireServerBinary(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(natsServerBin); err == nil {
		return natsServerBin
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	scalertest.Unavailable(t, "nats-server is not installed (looked for "+natsServerBin+" and in PATH): these tests start their own server with a monitoring port or authentication")
	return ""
}

func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// uniqueName returns prefix followed by a random suffix: a valid stream,
// consumer or subject token name.
func uniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "ebb_test_" + prefix + "_" + hex.EncodeToString(b)
}

// admin is the tests' own connection, for creating streams and consumers,
// publishing and consuming; it does not go through the scaler.
type admin struct {
	t  testing.TB
	nc *nats.Conn
	js jetstream.JetStream
}

// newAdmin connects to the shared server.
func newAdmin(t testing.TB) *admin {
	t.Helper()
	requireNATS(t)
	return connectAdmin(t, natsURL)
}

// connectAdmin connects to url with opts.
func connectAdmin(t testing.TB, url string, opts ...nats.Option) *admin {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("ebb test admin"), nats.Timeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("test admin connection to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("test admin JetStream: %v", err)
	}
	return &admin{t: t, nc: nc, js: js}
}

func ctx10s() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// stream creates a fresh stream on subjects <name>.>, deleted when the test
// ends.
func (a *admin) stream(prefix string) string {
	a.t.Helper()
	name := uniqueName(prefix)
	ctx, cancel := ctx10s()
	defer cancel()
	if _, err := a.js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage}); err != nil {
		a.t.Fatalf("creating stream %s: %v", name, err)
	}
	a.t.Cleanup(func() {
		ctx, cancel := ctx10s()
		defer cancel()
		_ = a.js.DeleteStream(ctx, name)
	})
	return name
}

// pullConsumer creates a durable pull consumer with explicit acks on stream.
func (a *admin) pullConsumer(stream, prefix string) (string, jetstream.Consumer) {
	a.t.Helper()
	name := uniqueName(prefix)
	ctx, cancel := ctx10s()
	defer cancel()
	c, err := a.js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		a.t.Fatalf("creating consumer %s on %s: %v", name, stream, err)
	}
	return name, c
}

// pushConsumer creates a durable push consumer that delivers to a subject
// nobody listens on, so its messages stay pending.
func (a *admin) pushConsumer(stream, prefix string) string {
	a.t.Helper()
	name := uniqueName(prefix)
	ctx, cancel := ctx10s()
	defer cancel()
	if _, err := a.js.CreateOrUpdatePushConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: name, DeliverSubject: uniqueName("deliver"), AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		a.t.Fatalf("creating push consumer %s on %s: %v", name, stream, err)
	}
	return name
}

// publish stores n messages in stream, waiting for each acknowledgement.
func (a *admin) publish(stream string, n int) {
	a.t.Helper()
	ctx, cancel := ctx10s()
	defer cancel()
	for i := 0; i < n; i++ {
		if _, err := a.js.Publish(ctx, stream+".work", []byte("m"+strconv.Itoa(i))); err != nil {
			a.t.Fatalf("publishing to %s: %v", stream, err)
		}
	}
}

// fetch takes n messages from a pull consumer without acknowledging them.
func (a *admin) fetch(c jetstream.Consumer, n int) []jetstream.Msg {
	a.t.Helper()
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		a.t.Fatalf("fetching %d: %v", n, err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil {
		a.t.Fatalf("fetching %d: %v", n, err)
	}
	if len(msgs) != n {
		a.t.Fatalf("fetched %d messages, want %d", len(msgs), n)
	}
	return msgs
}

// ack acknowledges msgs and waits for the server to confirm each.
func (a *admin) ack(msgs []jetstream.Msg) {
	a.t.Helper()
	ctx, cancel := ctx10s()
	defer cancel()
	for _, m := range msgs {
		if err := m.DoubleAck(ctx); err != nil {
			a.t.Fatalf("acknowledging: %v", err)
		}
	}
}

// server is a nats-server the test starts itself, with a monitoring port.
type server struct {
	t       testing.TB
	bin     string
	args    []string
	addr    string // client host:port
	monitor string // monitoring host:port
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *syncBuffer
}

// serverOptions say how to start a server.
type serverOptions struct {
	// config is the text of a configuration file (accounts, users,
	// authorization); empty for none.
	config string
	// noJetStream starts the server without JetStream.
	noJetStream bool
}

// startServer starts a nats-server on free loopback ports with a monitoring
// endpoint and, unless told otherwise, JetStream with its store in a
// temporary folder. The server is stopped when the test ends.
func startServer(t testing.TB, o serverOptions) *server {
	t.Helper()
	bin := requireServerBinary(t)
	dir := t.TempDir()
	s := &server{t: t, bin: bin, addr: scalertest.FreeAddr(t), monitor: scalertest.FreeAddr(t)}
	_, port, _ := net.SplitHostPort(s.addr)
	_, mport, _ := net.SplitHostPort(s.monitor)
	s.args = []string{"-a", "127.0.0.1", "-p", port, "-m", mport}
	if !o.noJetStream {
		s.args = append(s.args, "-js", "-sd", filepath.Join(dir, "store"))
	}
	if o.config != "" {
		path := filepath.Join(dir, "server.conf")
		if err := os.WriteFile(path, []byte(o.config), 0o600); err != nil {
			t.Fatal(err)
		}
		s.args = append(s.args, "-c", path)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) url() string { return "nats://" + s.addr }

// start runs the server and waits until its client port accepts connections
// and its monitoring endpoint answers. (Not until /healthz is ok: a node of a
// cluster reports unhealthy until the other nodes are up.)
func (s *server) start() {
	s.t.Helper()
	s.mu.Lock()
	s.log = &syncBuffer{}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("starting nats-server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	scalertest.Eventually(s.t, 20*time.Second, "nats-server "+s.addr+" to accept connections and answer on its monitoring port", func() (bool, string) {
		select {
		case <-exited:
			s.t.Fatalf("nats-server exited: %s", s.log.String())
		default:
		}
		if !reachable(s.addr) {
			return false, "client port closed"
		}
		resp, err := http.Get("http://" + s.monitor + "/varz")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// stop kills the server and waits for it to exit. Calling it again is
// harmless.
func (s *server) stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// syncBuffer is a bytes.Buffer safe for the writes of a child process's
// output goroutine and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func trigger(meta, auth map[string]string) scalers.Trigger {
	return scalers.Trigger{
		Namespace: "default", ScaledObject: "worker", Index: 0, Name: "orders", Type: "nats-jetstream",
		Metadata: meta, AuthParams: auth,
	}
}

// wantValue reads sc and checks its value.
func wantValue(t testing.TB, sc scalers.Scaler, want float64) {
	t.Helper()
	if r := scalertest.MustRead(t, sc); r.Value != want {
		t.Fatalf("Read = %+v, want value %v", r, want)
	}
}

// readError reads sc and returns the error it must give, failing the test
// when there is none or when a reading comes with it.
func readError(t testing.TB, sc scalers.Scaler) error {
	t.Helper()
	r, err := scalertest.Read(sc)
	if err == nil {
		t.Fatalf("Read = %+v with no error", r)
	}
	if r != (scalers.Reading{}) {
		t.Errorf("Read returned a reading %+v along with its error", r)
	}
	return err
}
