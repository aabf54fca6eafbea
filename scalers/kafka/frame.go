// SPDX-License-Identifier: Apache-2.0

package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"

	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/apiversions"
	"github.com/segmentio/kafka-go/protocol/findcoordinator"
	"github.com/segmentio/kafka-go/protocol/listoffsets"
	meta "github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/offsetfetch"
	"github.com/segmentio/kafka-go/protocol/saslauthenticate"
	"github.com/segmentio/kafka-go/protocol/saslhandshake"

	"github.com/ebbscale/ebb/scalers"
)

// Bounded responses.
//
// kafka-go's decoder allocates what a response announces: the frame's size,
// and inside a frame every array's count (reflect.MakeSlice of that many
// elements) and every string's or byte array's length, without checking
// them against the bytes left in the frame. So a broker that lies (or a peer
// that is not a broker: the first four bytes of an HTTP answer or a TLS
// record announce a frame of some 350 MB) could make it allocate gigabytes
// from a few bytes. frameGuard stands between the connection and kafka-go:
// it reads each response frame whole, within maxResponseSize, and walks it
// with the schema of the response kafka-go will decode (its own response
// types and their `kafka` struct tags, for the version requested), checking
// that every count and length fits in the bytes left and that decoding
// allocates at most maxDecodedSize; only then does kafka-go see the frame.
const (
	// maxResponseSize bounds a response frame. Ebb's largest answers are
	// Metadata for a trigger's topics (about 50 bytes per partition with
	// three replicas) and OffsetFetch for every partition a group committed
	// (about 20 bytes per partition): 8 MiB is some 160,000 partitions of
	// metadata or 400,000 committed offsets.
	maxResponseSize = 8 << 20
	// maxDecodedSize bounds what kafka-go allocates decoding one response:
	// an 8 MiB Metadata answer decodes to about 20 MB.
	maxDecodedSize = 32 << 20
)

// responseTypes are the responses to the requests Ebb sends, by API key:
// the types kafka-go decodes them into.
var responseTypes = map[protocol.ApiKey]reflect.Type{
	protocol.ApiVersions:      reflect.TypeFor[apiversions.Response](),
	protocol.Metadata:         reflect.TypeFor[meta.Response](),
	protocol.FindCoordinator:  reflect.TypeFor[findcoordinator.Response](),
	protocol.ListOffsets:      reflect.TypeFor[listoffsets.Response](),
	protocol.OffsetFetch:      reflect.TypeFor[offsetfetch.Response](),
	protocol.SaslHandshake:    reflect.TypeFor[saslhandshake.Response](),
	protocol.SaslAuthenticate: reflect.TypeFor[saslauthenticate.Response](),
}

// frameGuard is a broker connection whose responses are checked (see
// above) before kafka-go reads them. It learns the API key and version of
// each response from the request written before it: kafka-go decodes a
// response as the answer to the last request, and requests on a connection
// are serialized. A frameGuard is used by one goroutine at a time.
type frameGuard struct {
	net.Conn

	// The request being written: its header bytes so far, and the bytes of
	// its frame still to pass once the header is read.
	reqHead   [8]byte // size, API key, API version
	reqFilled int
	reqLeft   int64
	// The last request's API key and version.
	apiKey     protocol.ApiKey
	apiVersion int16
	requested  bool
	// raw is set while kafka-go exchanges SASL bytes without Kafka
	// framing (SaslHandshake v0: a length, then the bytes, both ways).
	raw bool

	// The checked response being served, and how much of it was.
	frame  []byte
	served int
	// err, once set, fails every later read.
	err error
}

func (g *frameGuard) Write(b []byte) (int, error) {
	if g.raw {
		return g.Conn.Write(b)
	}
	for rest := b; len(rest) > 0; {
		if g.reqLeft > 0 {
			skip := min(int64(len(rest)), g.reqLeft)
			g.reqLeft -= skip
			rest = rest[skip:]
			continue
		}
		c := copy(g.reqHead[g.reqFilled:], rest)
		g.reqFilled += c
		rest = rest[c:]
		if g.reqFilled < len(g.reqHead) {
			break
		}
		g.reqFilled = 0
		size := int32(binary.BigEndian.Uint32(g.reqHead[:4]))
		g.apiKey = protocol.ApiKey(int16(binary.BigEndian.Uint16(g.reqHead[4:6])))
		g.apiVersion = int16(binary.BigEndian.Uint16(g.reqHead[6:8]))
		g.requested = true
		g.reqLeft = max(int64(size)-4, 0)
	}
	return g.Conn.Write(b)
}

func (g *frameGuard) Read(b []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.served == len(g.frame) {
		g.frame, g.served = nil, 0
		frame, err := g.next()
		if err != nil {
			if errors.Is(err, scalers.ErrReplyTooLarge) || errors.Is(err, errNotKafka) {
				g.err = err
			}
			return 0, err
		}
		g.frame = frame
	}
	n := copy(b, g.frame[g.served:])
	g.served += n
	return n, nil
}

// errNotKafka is a response that does not follow the Kafka protocol.
var errNotKafka = errors.New("the broker's response is malformed")

// next reads and checks one response frame.
func (g *frameGuard) next() ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(g.Conn, head[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(head[:]))
	switch {
	case size > maxResponseSize:
		return nil, fmt.Errorf("the peer does not answer like a Kafka broker (it announced a response of %d bytes): is this a Kafka listener, and does it need tls enable?: %w", size, &scalers.TooLargeError{What: "bytes in a response", Limit: maxResponseSize})
	case size < 0, size < 4 && !g.raw:
		return nil, fmt.Errorf("the peer does not answer like a Kafka broker (it announced a response of %d bytes): is this a Kafka listener, and does it need tls enable?: %w", size, errNotKafka)
	}
	// The buffer grows with the bytes received, not with the size
	// announced.
	var buf bytes.Buffer
	buf.Write(head[:])
	if _, err := io.CopyN(&buf, g.Conn, int64(size)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	frame := buf.Bytes()
	if g.raw {
		return frame, nil // opaque SASL bytes, read into one []byte
	}
	if !g.requested {
		return nil, fmt.Errorf("%w: a response came before any request", errNotKafka)
	}
	if err := checkResponse(g.apiKey, g.apiVersion, frame[8:]); err != nil {
		return nil, fmt.Errorf("refusing the broker's %s response: %w", g.apiKey, err)
	}
	return frame, nil
}

// checkResponse walks the body of a response (after its correlation ID)
// with the schema of the type kafka-go decodes it into at version.
func checkResponse(key protocol.ApiKey, version int16, body []byte) error {
	t, ok := responseTypes[key]
	if !ok {
		return fmt.Errorf("%w: Ebb sent no request that gets a %s response", errNotKafka, key)
	}
	s, err := compile(t, version)
	if err != nil {
		return err
	}
	w := walker{rest: body}
	return w.walk(s)
}

// wireKind is how one field is encoded in a non-flexible Kafka message.
type wireKind uint8

const (
	wireFixed  wireKind = iota // bool, int8 to int64, float64
	wireString                 // int16 length, then bytes (negative: null)
	wireBytes                  // int32 length, then bytes (negative: null)
	wireArray                  // int32 count, then elements (negative: null)
	wireRecord                 // fields in order
)

// wireNode is a field's schema at one version.
type wireNode struct {
	kind   wireKind
	size   int         // wireFixed: bytes
	min    int         // the fewest bytes it takes on the wire
	elem   *wireNode   // wireArray
	goSize int64       // wireArray: bytes of one decoded element
	fields []*wireNode // wireRecord
}

// compile builds the schema of type t at version, as kafka-go reads its
// struct tags: a field is present at the versions its `kafka` tag's
// min/max range (one of its |-separated alternatives) holds. Flexible
// versions (a field tagged "tag") are refused: none of the responses Ebb
// asks for is flexible at the versions kafka-go speaks.
func compile(t reflect.Type, version int16) (*wireNode, error) {
	switch t.Kind() {
	case reflect.Bool, reflect.Int8:
		return &wireNode{kind: wireFixed, size: 1, min: 1}, nil
	case reflect.Int16:
		return &wireNode{kind: wireFixed, size: 2, min: 2}, nil
	case reflect.Int32:
		return &wireNode{kind: wireFixed, size: 4, min: 4}, nil
	case reflect.Int64, reflect.Float64:
		return &wireNode{kind: wireFixed, size: 8, min: 8}, nil
	case reflect.String:
		return &wireNode{kind: wireString, min: 2}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return &wireNode{kind: wireBytes, min: 4}, nil
		}
		elem, err := compile(t.Elem(), version)
		if err != nil {
			return nil, err
		}
		return &wireNode{kind: wireArray, min: 4, elem: elem, goSize: int64(t.Elem().Size())}, nil
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(reflect.TypeFor[io.ReaderFrom]()) {
			return nil, fmt.Errorf("%w: cannot check a %s", errNotKafka, t)
		}
		n := &wireNode{kind: wireRecord}
		for i := range t.NumField() {
			f := t.Field(i)
			if f.PkgPath != "" && f.Name != "_" {
				continue
			}
			present, flexible := fieldAt(f.Tag.Get("kafka"), version)
			if flexible {
				return nil, fmt.Errorf("%w: %s is flexible at version %d", errNotKafka, t, version)
			}
			if !present {
				continue
			}
			fn, err := compile(f.Type, version)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, fn)
			n.min += fn.min
		}
		return n, nil
	}
	return nil, fmt.Errorf("%w: cannot check a field of type %s", errNotKafka, t)
}

// fieldAt reads a `kafka` struct tag: whether one of its alternatives
// covers version, and whether that one is a tagged field of a flexible
// version.
func fieldAt(tag string, version int16) (present, flexible bool) {
	for alt := range strings.SplitSeq(tag, "|") {
		lo, hi := int16(-1), int16(-1)
		tagged := false
		for opt := range strings.SplitSeq(alt, ",") {
			switch {
			case strings.HasPrefix(opt, "min=v"):
				lo = parseVersion(opt[len("min=v"):])
			case strings.HasPrefix(opt, "max=v"):
				hi = parseVersion(opt[len("max=v"):])
			case opt == "tag" || strings.HasPrefix(opt, "tag="):
				tagged = true
			}
		}
		if lo >= 0 && lo <= version && version <= hi {
			return true, tagged
		}
	}
	return false, false
}

func parseVersion(s string) int16 {
	v := 0
	for _, c := range s {
		if c < '0' || c > '9' || v > 1000 {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	if s == "" {
		return -1
	}
	return int16(v)
}

// walker reads a response body against a schema.
type walker struct {
	rest    []byte
	decoded int64 // what kafka-go will allocate for it so far
}

func (w *walker) take(n int) ([]byte, error) {
	if n > len(w.rest) {
		return nil, fmt.Errorf("%w: a field runs past the end of the response", errNotKafka)
	}
	b := w.rest[:n]
	w.rest = w.rest[n:]
	return b, nil
}

func (w *walker) alloc(n int64) error {
	w.decoded += n
	if w.decoded > maxDecodedSize {
		return &scalers.TooLargeError{What: "bytes decoded", Limit: maxDecodedSize}
	}
	return nil
}

func (w *walker) walk(n *wireNode) error {
	switch n.kind {
	case wireFixed:
		_, err := w.take(n.size)
		return err
	case wireString:
		b, err := w.take(2)
		if err != nil {
			return err
		}
		return w.payload(int64(int16(binary.BigEndian.Uint16(b))))
	case wireBytes:
		b, err := w.take(4)
		if err != nil {
			return err
		}
		return w.payload(int64(int32(binary.BigEndian.Uint32(b))))
	case wireArray:
		b, err := w.take(4)
		if err != nil {
			return err
		}
		count := int64(int32(binary.BigEndian.Uint32(b)))
		if count <= 0 {
			return nil
		}
		// Every element takes at least elem.min bytes: a count the bytes
		// left cannot hold is a lie, refused before kafka-go makes a
		// slice of that many elements.
		if count*int64(max(n.elem.min, 1)) > int64(len(w.rest)) {
			return fmt.Errorf("%w: an array announces %d elements, more than the response's remaining %d bytes hold", errNotKafka, count, len(w.rest))
		}
		if err := w.alloc(count * n.goSize); err != nil {
			return err
		}
		for range count {
			if err := w.walk(n.elem); err != nil {
				return err
			}
		}
		return nil
	case wireRecord:
		for _, f := range n.fields {
			if err := w.walk(f); err != nil {
				return err
			}
		}
		return nil
	}
	return errNotKafka
}

// payload takes a string's or byte array's n bytes (none when n is
// negative: null).
func (w *walker) payload(n int64) error {
	if n <= 0 {
		return nil
	}
	if n > int64(len(w.rest)) {
		return fmt.Errorf("%w: a string or byte array of %d bytes runs past the end of the response", errNotKafka, n)
	}
	if err := w.alloc(n); err != nil {
		return err
	}
	w.rest = w.rest[n:]
	return nil
}
