// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// scan feeds data to a fresh scanner in chunks of n bytes (all at once
// when n is 0).
func scan(data []byte, n int) error { return scalertest.CheckInChunks(newRESPScanner(), data, n) }

func TestTheRESPScannerPassesRealReplies(t *testing.T) {
	replies := map[string]string{
		"LLEN":                    ":42\r\n",
		"a null bulk (RESP2)":     "$-1\r\n",
		"a null array (RESP2)":    "*-1\r\n",
		"an empty bulk":           "$0\r\n\r\n",
		"an error":                "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
		"XPENDING's summary":      "*4\r\n:2\r\n$3\r\n1-0\r\n$3\r\n2-0\r\n*1\r\n*2\r\n$2\r\nc1\r\n$1\r\n2\r\n",
		"XINFO GROUPS (RESP2)":    "*1\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:3\r\n",
		"a RESP3 map and set":     "%2\r\n+a\r\n:1\r\n+b\r\n~2\r\n#t\r\n,1.5\r\n",
		"a RESP3 attribute":       "|1\r\n+key-popularity\r\n*2\r\n$1\r\na\r\n,0.19\r\n:7\r\n",
		"RESP3 blob and verbatim": "!5\r\nERR x\r\n=8\r\ntxt:abcd\r\n(12345678901234567890\r\n",
		"a bulk holding CRLF":     "$6\r\n\r\n*9\r\n\r\n:1\r\n",
		"several pipelined":       ":1\r\n:2\r\n+OK\r\n$2\r\nhi\r\n",
	}
	for name, reply := range replies {
		for _, chunk := range []int{0, 1, 2, 5} {
			if err := scan([]byte(reply), chunk); err != nil {
				t.Errorf("%s (chunks of %d): %v", name, chunk, err)
			}
		}
	}
}

func TestTheRESPScannerRefusesWhatGoRedisWouldAllocateBlindly(t *testing.T) {
	nested := strings.Repeat("*1\r\n", respMaxDepth+1) + ":1\r\n"
	cases := map[string]struct {
		reply   string
		tooMuch bool // else: not RESP
	}{
		"an array of two billion elements":   {"*2000000000\r\n", true},
		"a map of a billion entries":         {"%1000000000\r\n", true},
		"a bulk string of two billion bytes": {"$2000000000\r\n", true},
		"a blob error of a billion bytes":    {"!1000000000\r\n", true},
		"a length past int64":                {"*99999999999999999999999999\r\n", true},
		"nesting deeper than go-redis needs": {nested, true},
		"a line longer than any reply's":     {"+" + strings.Repeat("x", respMaxLine+1), true},
		"more elements in one reply than the bound": {
			"*1000000\r\n" + strings.Repeat("*2\r\n:1\r\n:1\r\n", respMaxElements/3+1), true},
		"a reply of more bytes than the bound": {
			strings.Repeat("*2\r\n", 4) + strings.Repeat("$16777216\r\n"+strings.Repeat("x", 1<<24)+"\r\n", 5), true},
		"a type byte RESP does not have":  {"HTTP/1.1 400 Bad Request\r\n", false},
		"a negative length other than -1": {"$-5\r\n", false},
		"a streamed string (RESP3)":       {"$?\r\n;4\r\nabcd\r\n;0\r\n", false},
		"a length that is not a number":   {"*1x\r\n", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for _, chunk := range []int{0, 3} {
				err := scan([]byte(c.reply), chunk)
				switch {
				case c.tooMuch && !errors.Is(err, scalers.ErrReplyTooLarge):
					t.Errorf("chunks of %d: %v, want ErrReplyTooLarge", chunk, err)
				case !c.tooMuch && !errors.Is(err, errNotRESP):
					t.Errorf("chunks of %d: %v, want errNotRESP", chunk, err)
				}
			}
		})
	}
}

// A reply's bounds start again with the next reply: a server answering
// many pipelined commands is not refused for their total.
func TestTheRESPScannerBoundsEachReplyAlone(t *testing.T) {
	one := "*3\r\n$1048576\r\n" + strings.Repeat("x", 1<<20) + "\r\n:1\r\n:2\r\n"
	if err := scan([]byte(strings.Repeat(one, 100)), 4096); err != nil {
		t.Errorf("100 replies of 1 MiB each: %v", err)
	}
}

// hostileRedis answers every connection's first command with reply, then
// keeps reading until the client goes.
func hostileRedis(t *testing.T, reply []byte) string {
	return scalertest.HostileTCP(t, func(conn net.Conn) {
		buf := make([]byte, 4096)
		if _, err := conn.Read(buf); err != nil {
			return
		}
		_, _ = conn.Write(reply)
		_, _ = io.Copy(io.Discard, conn)
	})
}

func TestAHostileRedisIsRefusedBeforeGoRedisAllocates(t *testing.T) {
	lists, streams, _ := testTypes(t)
	cases := map[string]string{
		"an array of two billion elements":   "*2000000000\r\n",
		"a bulk string of two billion bytes": "$2000000000\r\n",
		"an endless line":                    "+" + strings.Repeat("x", 4<<20),
		"nesting a million levels deep":      strings.Repeat("*1\r\n", 1_000_000),
	}
	for name, reply := range cases {
		t.Run(name, func(t *testing.T) {
			addr := hostileRedis(t, []byte(reply))
			for _, sc := range []scalers.Scaler{
				newScaler(t, lists, listTrigger(map[string]string{"address": addr, "listName": "jobs", "timeout": "5s"}, nil)),
				newScaler(t, streams, streamTrigger(map[string]string{"address": addr, "stream": "s", "consumerGroup": "g", "lagCount": "5", "timeout": "5s"}, nil)),
			} {
				err := scalertest.BoundedFailure(t, sc, 5*time.Second, 32<<20)
				if !errors.Is(err, scalers.ErrReplyTooLarge) {
					t.Errorf("Read = %v, want ErrReplyTooLarge", err)
				}
				if strings.Contains(err.Error(), "xxxx") {
					t.Errorf("the error repeats the reply: %.200s", err)
				}
			}
		})
	}
}

// Replies of real Redis pass the scanner, large ones included: a stream
// with 2,000 consumer groups (XINFO GROUPS) and a lag Redis cannot tell,
// which Ebb counts with an XRANGE of 100 entries of 64 KiB each.
func TestTheScannerPassesLargeRepliesOfRealRedis(t *testing.T) {
	a := newAdmin(t)
	_, streams, _ := testTypes(t)
	stream := a.key("stream")
	ctx := a.ctx()
	value := strings.Repeat("v", 64<<10)
	var ids []string
	for i := range 150 {
		id, err := a.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"n", i, "payload", value}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	pipe := a.rdb.Pipeline()
	for i := range 2000 {
		pipe.XGroupCreate(ctx, stream, fmt.Sprintf("g%04d", i), "0")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// A group created at an ID in the middle of the stream: Redis reports
	// its lag as nil until it reads to the end.
	if err := a.rdb.XGroupCreate(ctx, stream, "middle", ids[10]).Err(); err != nil {
		t.Fatal(err)
	}
	sc := newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": "middle", "lagCount": "5"}, nil))
	r := scalertest.MustRead(t, sc)
	if r.Value != 150 { // 139 after the group's ID: more than the 100 counted, so the length stands for the lag
		t.Errorf("lag = %v, want the stream's length 150", r.Value)
	}
	sc = newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": "g1999", "lagCount": "5"}, nil))
	if r := scalertest.MustRead(t, sc); r.Value != 150 {
		t.Errorf("lag of group g1999 = %v, want 150", r.Value)
	}
}

// fakeConn is a connection that reads data and discards what is written.
type fakeConn struct {
	net.Conn // nil: only the methods below are called
	r        *bytes.Reader
}

func (c *fakeConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// FuzzReply feeds a server's reply to the scanner and, through it, to
// go-redis and Ebb's parsing of each command it sends: nothing panics, and
// the scanner's verdict does not depend on how the bytes are split.
func FuzzReply(f *testing.F) {
	for _, s := range []string{
		":42\r\n",
		"*4\r\n:2\r\n$3\r\n1-0\r\n$3\r\n2-0\r\n*1\r\n*2\r\n$2\r\nc1\r\n$1\r\n2\r\n",
		"*1\r\n*8\r\n$4\r\nname\r\n$1\r\ng\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$3\r\nlag\r\n:3\r\n$7\r\npending\r\n:0\r\n",
		"*1\r\n%2\r\n+name\r\n+g\r\n+lag\r\n_\r\n",
		"-NOGROUP No such key or consumer group\r\n",
		"*2000000000\r\n",
		"$-1\r\n",
		"|1\r\n+a\r\n+b\r\n:1\r\n",
	} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, reply []byte, chunk uint8) {
		whole := scan(reply, 0)
		if split := scan(reply, int(chunk)); (whole == nil) != (split == nil) {
			t.Fatalf("whole: %v; in chunks of %d: %v", whole, chunk, split)
		}
		rdb := goredis.NewClient(&goredis.Options{
			Addr: "fuzz", Protocol: 2, DisableIdentity: true, MaxRetries: -1, PoolSize: 1,
			Dialer: func(context.Context, string, string) (net.Conn, error) {
				return scalers.CheckedConn(&fakeConn{r: bytes.NewReader(reply)}, newRESPScanner()), nil
			},
		})
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if v, err := rdb.Do(ctx, "XINFO", "GROUPS", "s").Result(); err == nil {
			_, _ = parseGroups(v)
		}
		_, _ = rdb.XPending(ctx, "s", "g").Result()
		_, _ = rdb.LLen(ctx, "l").Result()
		_, _ = rdb.XRangeN(ctx, "s", "(0-0", "+", lagScanLimit).Result()
	})
}
