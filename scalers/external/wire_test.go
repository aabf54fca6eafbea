// SPDX-License-Identifier: Apache-2.0

package external

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// rawCodec passes messages through as bytes, so that the test server
// reads and writes the wire format by hand.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// fields decodes one message's fields: number → values (bytes fields as
// strings, varints as numbers).
func fields(t *testing.T, b []byte) map[protowire.Number][]any {
	t.Helper()
	out := map[protowire.Number][]any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				t.Fatal("bad bytes field")
			}
			out[num], b = append(out[num], string(v)), b[n:]
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				t.Fatal("bad varint field")
			}
			out[num], b = append(out[num], v), b[n:]
		default:
			t.Fatalf("field %d has wire type %d", num, typ)
		}
	}
	return out
}

// A server that knows only the protocol's names and field numbers, as
// KEDA's externalscaler.proto gives them, and none of Ebb's generated
// code: Ebb's requests carry what it expects where it expects it, and its
// answers (whole-number fields only, as older servers send) read right.
func TestTheWireFormatIsKEDAs(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	handler := func(_ any, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		var req []byte
		if err := stream.RecvMsg(&req); err != nil {
			return err
		}
		ref := req
		var reply []byte
		switch method {
		case "/externalscaler.ExternalScaler/GetMetrics":
			f := fields(t, req) // GetMetricsRequest{scaledObjectRef = 1, metricName = 2}
			if len(f[2]) != 1 || f[2][0] != "jobs" || len(f[1]) != 1 {
				t.Errorf("GetMetricsRequest fields %v", f)
				return nil
			}
			ref = []byte(f[1][0].(string))
			value := protowire.AppendTag(nil, 1, protowire.BytesType) // MetricValue{metricName = 1, metricValue = 2}
			value = protowire.AppendString(value, "jobs")
			value = protowire.AppendTag(value, 2, protowire.VarintType)
			value = protowire.AppendVarint(value, 42)
			reply = protowire.AppendTag(nil, 1, protowire.BytesType) // GetMetricsResponse{metricValues = 1}
			reply = protowire.AppendBytes(reply, value)
		case "/externalscaler.ExternalScaler/GetMetricSpec":
			spec := protowire.AppendTag(nil, 1, protowire.BytesType) // MetricSpec{metricName = 1, targetSize = 2}
			spec = protowire.AppendString(spec, "jobs")
			spec = protowire.AppendTag(spec, 2, protowire.VarintType)
			spec = protowire.AppendVarint(spec, 10)
			reply = protowire.AppendTag(nil, 1, protowire.BytesType) // GetMetricSpecResponse{metricSpecs = 1}
			reply = protowire.AppendBytes(reply, spec)
		case "/externalscaler.ExternalScaler/IsActive":
			reply = protowire.AppendTag(nil, 1, protowire.VarintType) // IsActiveResponse{result = 1}
			reply = protowire.AppendVarint(reply, 1)
		default:
			t.Errorf("unexpected method %s", method)
			return nil
		}
		// ScaledObjectRef{name = 1, namespace = 2, scalerMetadata = 3 (map entries {key = 1, value = 2})}
		f := fields(t, ref)
		var md []string
		for _, e := range f[3] {
			ef := fields(t, []byte(e.(string)))
			md = append(md, fmt.Sprint(ef[1][0], "=", ef[2][0]))
		}
		sort.Strings(md)
		got := fmt.Sprint(f[1], f[2], md)
		mu.Lock()
		calls = append(calls, method[strings.LastIndexByte(method, '/')+1:]+" "+got)
		mu.Unlock()
		return stream.SendMsg(&reply)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(handler))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(l)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})

	ext, _ := NewTypes()
	addr := l.Addr().String()
	r, err := read(t, scalertest.NewScaler(t, ext, trigger("external", map[string]string{"scalerAddress": addr, "queue": "q"}, nil)))
	if err != nil || r.Value != 4.2 || !r.Active {
		t.Fatalf("Read = %+v, %v; want 4.2 (42 over 10), active", r, err)
	}
	wantRef := fmt.Sprint([]any{"worker"}, []any{"shop"}, []string{"queue=q", "scalerAddress=" + addr})
	want := []string{"GetMetricSpec " + wantRef, "GetMetrics " + wantRef, "IsActive " + wantRef}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("calls:\n%v\nwant:\n%v", calls, want)
	}
}
