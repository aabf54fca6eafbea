package redis

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// tcpProxy forwards a loopback port to the real Redis, so that a test can
// take "the server" away and bring it back without touching the shared one.
type tcpProxy struct {
	t     testing.TB
	addr  string
	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newProxy(t testing.TB) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", redisAddr)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
				<-done
				_ = c.Close()
				_ = up.Close()
				<-done
			}()
		}
	}()
}

// stop closes the port and every connection through it: the server is gone.
func (p *tcpProxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	p.wg.Wait()
}

// start listens on the same port again: the server is back.
func (p *tcpProxy) start() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		if ln, err = net.Listen("tcp", p.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the port may linger briefly after Close
	}
	if err != nil {
		p.t.Fatalf("listening on %s again: %v", p.addr, err)
	}
	p.serve(ln)
}

func TestAServerThatGoesAwayIsAnErrorUntilItComesBack(t *testing.T) {
	a := newAdmin(t)
	lists, _, _ := testTypes(t)
	proxy := newProxy(t)
	list := a.list(3)
	sc := newScaler(t, lists, listTrigger(map[string]string{"address": proxy.addr, "listName": list, "timeout": "3s"}, nil))
	expect(t, mustRead(t, sc), 3, true)

	proxy.stop()
	// Reads fail, never reading zero, until the server is back (more than
	// maxConns of them, so that go-redis stops dialing on each read and
	// waits for its background redial).
	for i := 0; i < 2*maxConns; i++ {
		readErr(t, sc)
	}
	proxy.start()
	a.push(list, 2)
	scalertest.Eventually(t, 15*time.Second, "a read to reconnect and see 5 items", func() (bool, string) {
		r, err := read(sc)
		if err != nil {
			return false, err.Error()
		}
		return r.Value == 5, "value " + ftoa(r.Value)
	})
}

func TestTheLagOfAServerWithoutLagIsAnError(t *testing.T) {
	// Redis 6 answers XINFO GROUPS without a lag field: reading one as 0
	// would be a zero for an error.
	cmd := goredis.NewCmd(context.Background())
	cmd.SetVal([]any{[]any{"name", "g", "consumers", int64(0), "pending", int64(0), "last-delivered-id", "0-0"}})
	c := &client{sh: newShared("unused")}
	if _, err := c.lag(context.Background(), query{kind: kindLag, key: "s", group: "g"}, cmd, 5); !errors.Is(err, ErrNoLag) {
		t.Errorf("lag of a reply without lag = %v, want ErrNoLag", err)
	}
}
