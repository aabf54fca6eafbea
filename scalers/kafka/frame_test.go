// SPDX-License-Identifier: Apache-2.0

package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/segmentio/kafka-go/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ebbscale/ebb/scalers"
)

// ebbKeys are the APIs whose responses Ebb decodes, in a fixed order for
// the fuzzer.
var ebbKeys = []protocol.ApiKey{
	protocol.ApiVersions, protocol.Metadata, protocol.FindCoordinator, protocol.ListOffsets,
	protocol.OffsetFetch, protocol.SaslHandshake, protocol.SaslAuthenticate,
}

// sampleResponse is a well-formed response body (after the correlation ID)
// to key at version, written by franz-go's kmsg, with a little content.
func sampleResponse(key protocol.ApiKey, version int16) []byte {
	r := kmsg.ResponseForKey(int16(key))
	r.SetVersion(version)
	switch r := r.(type) {
	case *kmsg.ApiVersionsResponse:
		for _, k := range []int16{2, 3, 9, 10} {
			ak := kmsg.NewApiVersionsResponseApiKey()
			ak.ApiKey, ak.MaxVersion = k, 5
			r.ApiKeys = append(r.ApiKeys, ak)
		}
	case *kmsg.MetadataResponse:
		b := kmsg.NewMetadataResponseBroker()
		b.Host, b.Port = "broker-0.kafka", 9092
		r.Brokers = append(r.Brokers, b)
		tp := kmsg.NewMetadataResponseTopic()
		tp.Topic = kmsg.StringPtr("orders")
		for i := range int32(3) {
			p := kmsg.NewMetadataResponseTopicPartition()
			p.Partition, p.Replicas, p.ISR = i, []int32{0, 1, 2}, []int32{0, 1}
			tp.Partitions = append(tp.Partitions, p)
		}
		r.Topics = append(r.Topics, tp)
	case *kmsg.FindCoordinatorResponse:
		r.Host, r.Port = "broker-1.kafka", 9092
	case *kmsg.ListOffsetsResponse:
		tp := kmsg.NewListOffsetsResponseTopic()
		tp.Topic = "orders"
		for i := range int32(3) {
			p := kmsg.NewListOffsetsResponseTopicPartition()
			p.Partition, p.Offset = i, int64(100*i)
			tp.Partitions = append(tp.Partitions, p)
		}
		r.Topics = append(r.Topics, tp)
	case *kmsg.OffsetFetchResponse:
		tp := kmsg.NewOffsetFetchResponseTopic()
		tp.Topic = "orders"
		for i := range int32(3) {
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			p.Partition, p.Offset = i, int64(10*i)
			tp.Partitions = append(tp.Partitions, p)
		}
		r.Topics = append(r.Topics, tp)
	case *kmsg.SASLHandshakeResponse:
		r.SupportedMechanisms = []string{"PLAIN", "SCRAM-SHA-256"}
	case *kmsg.SASLAuthenticateResponse:
		r.SASLAuthBytes = []byte("r=nonce,s=salt,i=4096")
	}
	return r.AppendTo(nil)
}

func TestWellFormedResponsesPassTheGuard(t *testing.T) {
	for _, key := range ebbKeys {
		for v := key.MinVersion(); v <= key.MaxVersion(); v++ {
			if err := checkResponse(key, v, sampleResponse(key, v)); err != nil {
				t.Errorf("%s v%d: %v", key, v, err)
			}
		}
	}
}

func TestTheGuardBoundsWhatKafkaGoWouldAllocate(t *testing.T) {
	// A well-formed Metadata v8 answer of 100,000 partitions with 4
	// replicas (7.4 MB, within one frame) passes: it decodes to about 14 MB.
	const parts = 100_000
	body := binary.BigEndian.AppendUint32(nil, 0) // throttle
	body = binary.BigEndian.AppendUint32(body, 0) // no broker
	body = append(body, 0xff, 0xff)               // cluster id: null
	body = binary.BigEndian.AppendUint32(body, 0) // controller
	body = binary.BigEndian.AppendUint32(body, 1) // one topic
	body = append(body, 0, 0, 0, 1, 't', 0)       // no error, name "t", not internal
	body = binary.BigEndian.AppendUint32(body, parts)
	for i := range uint32(parts) {
		body = append(body, 0, 0)
		body = binary.BigEndian.AppendUint32(body, i) // index
		body = binary.BigEndian.AppendUint32(body, 0) // leader
		body = binary.BigEndian.AppendUint32(body, 0) // epoch
		for range 3 {                                 // replicas, isr, offline
			body = binary.BigEndian.AppendUint32(body, 4)
			body = append(body, make([]byte, 16)...)
		}
	}
	body = binary.BigEndian.AppendUint32(body, 0) // topic authorized operations
	body = binary.BigEndian.AppendUint32(body, 0) // cluster authorized operations
	if err := checkResponse(protocol.Metadata, 8, body); err != nil {
		t.Fatalf("a well-formed answer of %d bytes: %v", len(body), err)
	}
	// An answer whose every count is backed by its bytes can still decode
	// to more than the bound: 2,000,000 minimal partitions (52 MB, beyond
	// any frame) would decode to 176 MB.
	big := binary.BigEndian.AppendUint32(nil, 0)
	big = binary.BigEndian.AppendUint32(big, 0)
	big = append(big, 0xff, 0xff)
	big = binary.BigEndian.AppendUint32(big, 0)
	big = binary.BigEndian.AppendUint32(big, 1)
	big = append(big, 0, 0, 0, 1, 't', 0)
	big = binary.BigEndian.AppendUint32(big, 2_000_000) // partitions: 2,000,000 × 88 bytes decoded
	big = append(big, make([]byte, 2_000_000*26)...)
	err := checkResponse(protocol.Metadata, 8, big)
	if !errors.Is(err, scalers.ErrReplyTooLarge) {
		t.Errorf("an answer decoding to %d MB: %v, want ErrReplyTooLarge", 2_000_000*88>>20, err)
	}
}

// FuzzResponse feeds response bodies to the guard; whatever it accepts,
// kafka-go decodes without panicking and within maxDecodedSize.
func FuzzResponse(f *testing.F) {
	for i, key := range ebbKeys {
		for v := key.MinVersion(); v <= key.MaxVersion(); v++ {
			f.Add(uint8(i), v, sampleResponse(key, v))
		}
	}
	f.Add(uint8(1), int16(8), []byte{0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, which uint8, version int16, body []byte) {
		key := ebbKeys[int(which)%len(ebbKeys)]
		if checkResponse(key, version, body) != nil {
			return
		}
		frame := binary.BigEndian.AppendUint32(nil, uint32(4+len(body)))
		frame = binary.BigEndian.AppendUint32(frame, 7)
		frame = append(frame, body...)
		_, msg, err := protocol.ReadResponse(bytes.NewReader(frame), key, version)
		if err != nil {
			return
		}
		if n := decodedSize(reflect.ValueOf(msg)); n > maxDecodedSize {
			t.Fatalf("%s v%d: accepted a %d-byte body that decodes to %d bytes", key, version, len(body), n)
		}
	})
}

// decodedSize is the bytes behind v's slices and strings.
func decodedSize(v reflect.Value) int64 {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return 0
		}
		return decodedSize(v.Elem())
	case reflect.String:
		return int64(v.Len())
	case reflect.Slice:
		n := int64(v.Cap()) * int64(v.Type().Elem().Size())
		for i := range v.Len() {
			n += decodedSize(v.Index(i))
		}
		return n
	case reflect.Struct:
		var n int64
		for i := range v.NumField() {
			n += decodedSize(v.Field(i))
		}
		return n
	}
	return 0
}
