// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestAHostileManagementAPIIsRefusedWithinBounds(t *testing.T) {
	cases := map[string]struct {
		meta   map[string]string
		answer func(w io.Writer, r *http.Request)
	}{
		"an endless answer": {
			answer: func(w io.Writer, _ *http.Request) {
				_, _ = io.WriteString(w, `{"name":"q","messages":1,"x":"`)
				chunk := []byte(strings.Repeat("x", 1<<20))
				for range 40 {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			},
		},
		"more values than the bound": {
			answer: func(w io.Writer, _ *http.Request) {
				_, _ = io.WriteString(w, `{"name":"q","messages":1,"x":[`+strings.Repeat("0,", 600_000)+`0]}`)
			},
		},
		"a listing that announces a billion pages": {
			meta: map[string]string{"useRegex": "true", "queueName": "^q"},
			answer: func(w io.Writer, _ *http.Request) {
				_, _ = io.WriteString(w, `{"items":[{"name":"q1","messages":1,"messages_ready":1}],"page":1,"page_count":1000000000}`)
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				c.answer(w, r)
			}))
			t.Cleanup(srv.Close)
			meta := map[string]string{"host": srv.URL + "/", "queueName": "q", "value": "5", "timeout": "10s"}
			for k, v := range c.meta {
				meta[k] = v
			}
			sc := scalertest.NewScaler(t, NewType(), trigger(meta, nil))
			err := scalertest.BoundedFailure(t, sc, 10*time.Second, 32<<20)
			if !errors.Is(err, scalers.ErrReplyTooLarge) || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("Read = %.300v, want ErrReplyTooLarge without the answer", err)
			}
		})
	}
}

// A broker that sends message content (endless body frames) is refused at
// the first content frame, before the client appends any of it.
func TestABrokerSendingContentIsRefused(t *testing.T) {
	header := func(typ byte, size uint32) []byte {
		b := []byte{typ, 0, 1}
		return binary.BigEndian.AppendUint32(b, size)
	}
	cases := map[string][]byte{
		"a content header announcing 2^63 bytes": append(header(frameContentHeader, 14), 0, 60, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xce),
		"a body frame":                           append(header(frameContentBody, 4), 'd', 'a', 't', 'a', 0xce),
		"a frame of 2 GB":                        header(1, 2_000_000_000),
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			addr := scalertest.HostileTCP(t, func(conn net.Conn) {
				var proto [8]byte
				if _, err := io.ReadFull(conn, proto[:]); err != nil {
					return
				}
				_, _ = conn.Write(frame)
				_, _ = io.Copy(io.Discard, conn)
			})
			sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"host": "amqp://guest:guest@" + addr + "/", "queueName": "q", "value": "5", "timeout": "5s"}, nil))
			err := scalertest.BoundedFailure(t, sc, 5*time.Second, 16<<20)
			// amqp091-go reports the connection's error in its own type,
			// by its text.
			if !strings.Contains(err.Error(), "refusing the broker's data") {
				t.Errorf("Read = %v, want the broker's data refused", err)
			}
		})
	}
}

func TestTheAMQPScannerPassesWhatABrokerSends(t *testing.T) {
	frame := func(typ byte, payload int) []byte {
		b := []byte{typ, 0, 0}
		b = binary.BigEndian.AppendUint32(b, uint32(payload))
		return append(append(b, make([]byte, payload)...), 0xce)
	}
	var stream []byte
	stream = append(stream, frame(1, 500)...) // connection.start
	stream = append(stream, frame(8, 0)...)   // a heartbeat
	stream = append(stream, frame(1, 20)...)  // queue.declare-ok
	for _, chunk := range []int{1, 3, 0} {
		if err := scalertest.CheckInChunks(&amqpScanner{}, stream, chunk); err != nil {
			t.Errorf("chunks of %d: %v", chunk, err)
		}
	}
}

// FuzzManagementAnswer feeds management API answers to their decoding and
// to the values read from them: nothing panics, and errors never quote the
// answer.
func FuzzManagementAnswer(f *testing.F) {
	f.Add([]byte(`{"name":"orders","messages":12,"messages_ready":10,"message_stats":{"publish_details":{"rate":1.5}}}`))
	f.Add([]byte(`{"items":[{"name":"a","messages":1,"messages_ready":1},{"name":"b"}],"page":1,"page_count":2}`))
	f.Add([]byte(`[{"name":"a","messages":3,"messages_ready":2}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		quoted := func(err error) bool {
			return err != nil && len(data) >= 8 && strings.Contains(err.Error(), string(data))
		}
		var q queueStats
		if err := scalers.DecodeJSON(data, managementLimits, &q); quoted(err) {
			t.Fatalf("error %q quotes the answer", err)
		} else if err == nil {
			p := &plan{mode: modeMessageRate}
			_, _ = p.valueOf(q)
			_ = depthOf(q)
		}
		var pg queuePage
		if err := scalers.DecodeJSON(data, managementLimits, &pg); quoted(err) {
			t.Fatalf("error %q quotes the answer", err)
		}
		var list []queueStats
		if err := scalers.DecodeJSON(data, managementLimits, &list); quoted(err) {
			t.Fatalf("error %q quotes the answer", err)
		}
	})
}
