// SPDX-License-Identifier: Apache-2.0

package scalertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// Marker is the text a hostile server puts in everything it says; it must
// never appear in a scaler's error (which becomes a trigger's lastError and
// Events that the tenant and others read).
const Marker = "zqxHOSTILEzqx"

// HostileReply is a server that speaks a source's protocol and puts Marker
// in every text it sends (an error message, a reason, a label).
type HostileReply struct {
	// Name says what the server sends, as a sentence.
	Name string
	// Serve answers one connection; the connection is closed after it
	// returns.
	Serve func(conn net.Conn)
}

// genericHostile are the replies the suite puts every scaler against:
// bytes of no protocol, and HTTP answers (which a non-HTTP client sees as
// bytes of no protocol too).
var genericHostile = []HostileReply{
	{"bytes of no protocol", func(c net.Conn) {
		go func() { _, _ = io.Copy(io.Discard, c) }()
		_, _ = io.WriteString(c, strings.Repeat(Marker+" ", 64)+"\r\n")
		time.Sleep(2 * time.Second) // keep it open for the client to read
	}},
	{"an HTTP error with marked status line, headers and body", httpReply("HTTP/1.1 500 "+Marker+"\r\nContent-Type: text/plain\r\nX-Reason: "+Marker+"\r\n", Marker+" "+Marker)},
	{"an HTTP 200 JSON answer of marked strings", httpReply("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
		`{"status":"error","errorType":"`+Marker+`","error":"`+Marker+`","reason":"`+Marker+`","`+Marker+`":"`+Marker+`"}`)},
	{"an HTTP 200 JSON answer of the wrong shape", httpReply("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
		`{"status":"success","data":{"resultType":"`+Marker+`","result":[{"metric":{"`+Marker+`":"`+Marker+`"},"value":[1,"`+Marker+`"]}]},"items":[{"name":"`+Marker+`","messages":"`+Marker+`"}],"`+Marker+`":1}`)},
	{"an HTTP 200 text page with marked names and labels", httpReply("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n",
		"# HELP "+Marker+" "+Marker+"\n"+Marker+`{a="`+Marker+`"} `+Marker+"\n")},
	{"an HTTP redirect to a marked location on another host", httpReply("HTTP/1.1 302 Found\r\nLocation: http://"+strings.ToLower(Marker)+".invalid/"+Marker+"\r\n", "")},
	{"an HTTP redirect to a marked path on the same host", httpReply("HTTP/1.1 307 Temporary Redirect\r\nLocation: /"+Marker+"?"+Marker+"\r\n", "")},
}

// httpReply answers each HTTP request on a connection with head (a status
// line and headers, each ending in CRLF) and body.
func httpReply(head, body string) func(net.Conn) {
	return func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second)) // a client that does not speak HTTP waits no longer
		r := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(r)
			if err != nil {
				// Not HTTP: say it anyway, as a server would.
				_, _ = fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n%s", head, len(body), body)
				return
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20))
			if _, err := fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n%s", head, len(body), body); err != nil {
				return
			}
		}
	}
}

// checkEgress checks that a destination the operator's egress policy denies
// is refused with an error that says so, before any connection is made: to
// an address on the deny list, and to the real source once its loopback
// address is denied.
func checkEgress(t *testing.T, s Suite) {
	t.Run("a destination the egress policy denies is refused before any byte is sent", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Skipf("cannot listen on 127.0.0.2: %v", err)
		}
		defer l.Close()
		var accepted atomic.Int64
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				_ = c.Close()
			}
		}()
		deny, err := scalers.NewEgress(scalers.EgressRules{Deny: []string{"127.0.0.2/32"}})
		if err != nil {
			t.Fatal(err)
		}
		typ := s.WithEgress(deny)
		sc := mustNew(t, typ, s.At(l.Addr().String()))
		defer closeScaler(t, sc)
		ctx, cancel := context.WithTimeout(context.Background(), s.ReadTimeout)
		defer cancel()
		r, err := readWithin(ctx, sc, s.ReadTimeout+10*time.Second)
		if err == nil {
			t.Fatalf("Read of a denied destination = %+v with no error", r)
		}
		if !strings.Contains(err.Error(), "destination 127.0.0.2 refused by the operator's egress policy") {
			t.Errorf("error %q does not say the egress policy refused 127.0.0.2", err)
		}
		if n := accepted.Load(); n != 0 {
			t.Errorf("the denied destination accepted %d connections", n)
		}
	})
	t.Run("the real source is refused once the egress policy denies loopback", func(t *testing.T) {
		deny, err := scalers.NewEgress(scalers.EgressRules{Deny: []string{"127.0.0.0/8", "::1", "localhost"}})
		if err != nil {
			t.Fatal(err)
		}
		typ := s.WithEgress(deny)
		sc := mustNew(t, typ, s.Valid)
		defer closeScaler(t, sc)
		ctx, cancel := context.WithTimeout(context.Background(), s.ReadTimeout)
		defer cancel()
		r, err := readWithin(ctx, sc, s.ReadTimeout+10*time.Second)
		if err == nil {
			t.Fatalf("Read of the real source on a denied address = %+v with no error", r)
		}
		if !strings.Contains(err.Error(), "refused by the operator's egress policy") {
			t.Errorf("error %q does not say the egress policy refused the source", err)
		}
	})
}

// checkHostile reads hostile servers (the generic ones and the Suite's own)
// and checks that each read fails and that no byte of Marker reaches the
// error.
func checkHostile(t *testing.T, s Suite) {
	for _, h := range append(append([]HostileReply(nil), genericHostile...), s.Hostile...) {
		t.Run("a hostile server's words never reach the error: "+h.Name, func(t *testing.T) {
			addr := HostileTCP(t, h.Serve)
			sc := mustNew(t, s.Type, s.At(addr))
			defer closeScaler(t, sc)
			ctx, cancel := context.WithTimeout(context.Background(), s.ReadTimeout)
			defer cancel()
			r, err := readWithin(ctx, sc, s.ReadTimeout+10*time.Second)
			if err == nil {
				t.Fatalf("Read of a hostile server = %+v with no error", r)
			}
			AssertNoMarker(t, err)
		})
	}
}

// AssertNoMarker fails t when err's text holds Marker, in any case.
func AssertNoMarker(t testing.TB, err error) {
	t.Helper()
	if err != nil && strings.Contains(strings.ToLower(err.Error()), strings.ToLower(Marker)) {
		t.Errorf("the error repeats the server's words: %q", err)
	}
}
