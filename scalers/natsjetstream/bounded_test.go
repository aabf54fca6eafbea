// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// consumersJSZ is a /jsz answer for account $G with n consumers of stream
// "s", each written as consumer.
func consumersJSZ(n int, consumer func(i int) string) string {
	var b strings.Builder
	b.WriteString(`{"account_details":[{"name":"$G","id":"$G","stream_detail":[{"name":"s","consumer_detail":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(consumer(i))
	}
	b.WriteString(`]}]}]}`)
	return b.String()
}

func TestAHostileMonitoringEndpointIsRefusedWithinBounds(t *testing.T) {
	cases := map[string]string{
		// 20 MiB of one long consumer name.
		"an answer larger than the byte bound": consumersJSZ(1, func(int) string { return `{"name":"` + strings.Repeat("x", 20<<20) + `"}` }),
		// 600,000 empty consumers: 1.8 MB, but each decodes to a record.
		"an answer of more values than the bound": consumersJSZ(600_000, func(int) string { return `{}` }),
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			body := []byte(text)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(body)
			}))
			t.Cleanup(srv.Close)
			sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{
				"natsServerMonitoringEndpoint": strings.TrimPrefix(srv.URL, "http://"), "account": "$G", "stream": "s", "consumer": "c", "timeout": "10s",
			}, nil))
			// Reading up to the byte bound allocates about twice that.
			err := scalertest.BoundedFailure(t, sc, 10*time.Second, uint64(3*jszLimits.Bytes))
			if !errors.Is(err, scalers.ErrReplyTooLarge) || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("Read = %.300v, want ErrReplyTooLarge without the answer", err)
			}
		})
	}
}

// An account of 5,000 consumers (a large one; about 3 MB with the fields a
// real server sends) is read.
func TestALargeButRealAccountIsRead(t *testing.T) {
	consumer := func(i int) string {
		return fmt.Sprintf(`{"stream_name":"s","name":"c%d","created":"2024-01-01T00:00:00Z","delivered":{"consumer_seq":%d,"stream_seq":%d,"last_active":"2024-01-01T00:00:00Z"},`+
			`"ack_floor":{"consumer_seq":%d,"stream_seq":%d,"last_active":"2024-01-01T00:00:00Z"},"num_ack_pending":1,"num_redelivered":0,"num_waiting":2,"num_pending":%d,`+
			`"cluster":{"name":"c1","leader":"n1","replicas":[{"name":"n2","current":true,"active":100,"lag":0},{"name":"n3","current":true,"active":100,"lag":0}]},"push_bound":false,"ts":"2024-01-01T00:00:00Z"}`,
			i, i, i, i, i, i)
	}
	body := consumersJSZ(5000, consumer)
	var j jsz
	if err := scalers.DecodeJSON([]byte(body), jszLimits, &j); err != nil {
		t.Fatalf("an account of 5,000 consumers (%d bytes): %v", len(body), err)
	}
	v := j.account("$G")
	if c, err := v.consumer(plan{account: "$G", stream: "s", consumer: "c4999"}); err != nil || c.pending != 4999 {
		t.Errorf("consumer c4999 = %+v, %v", c, err)
	}
}

// FuzzJSZ feeds monitoring answers to the decoding of /jsz and the view
// built from it: nothing panics, and errors never quote the answer.
func FuzzJSZ(f *testing.F) {
	f.Add([]byte(consumersJSZ(2, func(i int) string {
		return fmt.Sprintf(`{"name":"c%d","num_pending":3,"num_ack_pending":1,"cluster":{"leader":"n1","replicas":[{"name":"n1"}]}}`, i)
	})))
	f.Add([]byte(`{"disabled":true}`))
	f.Add([]byte(`{"account_details":[{"name":"$G","stream_detail":[{"name":"s","consumer_detail":null}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var j jsz
		err := scalers.DecodeJSON(data, jszLimits, &j)
		if err != nil {
			if len(data) >= 8 && strings.Contains(err.Error(), string(data)) {
				t.Fatalf("error %q quotes the answer", err)
			}
			return
		}
		if v := j.account("$G"); v != nil {
			_, _ = v.consumer(plan{account: "$G", stream: "s", consumer: "c0"})
		}
	})
}
