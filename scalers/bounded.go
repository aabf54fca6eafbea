// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
)

// Bounded reads.
//
// A tenant chooses the servers its triggers read, so every reply is read as
// if it were hostile: bounded in bytes (ReadLimited) and, where a decoder
// builds slices and maps from it, in counts (DecodeJSON), at sizes a real
// source never needs. docs/security.md lists each bound and why it is
// enough. Errors about a reply never quote it.

// ErrReplyTooLarge is what a read fails with when the source's reply
// exceeds a bound: in bytes, in JSON values or in nesting. The reply is
// refused, never truncated into a wrong value. Test with errors.Is.
var ErrReplyTooLarge = errors.New("the reply is too large")

// TooLargeError says which bound a reply exceeded. Its text holds the bound,
// never the reply.
type TooLargeError struct {
	// What names what was counted: "bytes", "JSON values", "levels of
	// nesting", ...
	What string
	// Limit is the bound.
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: more than %d %s", ErrReplyTooLarge, e.Limit, e.What)
}

// Is makes errors.Is(err, ErrReplyTooLarge) hold.
func (e *TooLargeError) Is(target error) bool { return target == ErrReplyTooLarge }

// ReadLimited reads r to its end, at most limit bytes; a longer reply fails
// with a *TooLargeError after limit+1 bytes, so that a large reply is never
// mistaken for a short one. Memory grows with the bytes received, not with
// what a header announced.
func ReadLimited(r io.Reader, limit int64) ([]byte, error) {
	// Chunks (4 KiB, doubling up to 1 MiB), joined once at the end:
	// reading n bytes allocates about 2n in all, and a reply past the limit
	// about the limit (a buffer that doubles would double past it).
	var chunks [][]byte
	var total int64
	for size := int64(4 << 10); ; size = min(2*size, 1<<20) {
		chunk := make([]byte, min(size, limit+1-total))
		n, err := io.ReadFull(r, chunk)
		chunks = append(chunks, chunk[:n])
		total += int64(n)
		if total > limit {
			return nil, &TooLargeError{What: "bytes", Limit: limit}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	return bytes.Join(chunks, nil), nil
}

// JSONLimits bound a JSON reply.
type JSONLimits struct {
	// Bytes bounds the document's size.
	Bytes int64
	// Values bounds the JSON values in the document: objects, arrays,
	// strings (object keys included), numbers, true, false and null. What
	// decoding allocates grows with this count (each value becomes at most
	// one Go value), and a small document of many tiny values ("[{},{},...]")
	// is where a byte bound alone lets a decoder allocate far more than it
	// read.
	Values int
	// Depth bounds the nesting of objects and arrays.
	Depth int
}

// ReadJSON reads a JSON document from r into v, within lim: ReadLimited,
// then DecodeJSON.
func ReadJSON(r io.Reader, lim JSONLimits, v any) error {
	body, err := ReadLimited(r, lim.Bytes)
	if err != nil {
		return err
	}
	return DecodeJSON(body, lim, v)
}

// DecodeJSON decodes data into v after checking it against lim (CheckJSON).
// Its errors describe what is wrong without quoting data: a syntax error
// gives its byte offset, a type error the JSON and Go types.
func DecodeJSON(data []byte, lim JSONLimits, v any) error {
	if err := CheckJSON(data, lim); err != nil {
		return err
	}
	return cleanJSONError(json.Unmarshal(data, v))
}

// CheckJSON counts data's values and nesting against lim without decoding
// it (one pass, no allocation). It checks counts only: json.Unmarshal checks
// the syntax of the whole document before it decodes any of it, so a
// document CheckJSON miscounts because it is not JSON never gets decoded.
func CheckJSON(data []byte, lim JSONLimits) error {
	if lim.Bytes > 0 && int64(len(data)) > lim.Bytes {
		return &TooLargeError{What: "bytes", Limit: lim.Bytes}
	}
	values, depth := countJSON(data, lim)
	switch {
	case lim.Depth > 0 && depth > lim.Depth:
		return &TooLargeError{What: "levels of nesting", Limit: int64(lim.Depth)}
	case lim.Values > 0 && values > lim.Values:
		return &TooLargeError{What: "JSON values", Limit: int64(lim.Values)}
	}
	return nil
}

// countJSON counts the values of a JSON document and its deepest nesting,
// stopping as soon as one exceeds lim's bound (a zero bound is none).
func countJSON(data []byte, lim JSONLimits) (values, maxDepth int) {
	depth := 0
	inString, escaped, inScalar := false, false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		scalar := c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if scalar && !inScalar {
			values++
		}
		inScalar = scalar
		switch c {
		case '"':
			inString = true
			values++
		case '{', '[':
			values++
			depth++
			maxDepth = max(maxDepth, depth)
		case '}', ']':
			depth--
		}
		if (lim.Depth > 0 && maxDepth > lim.Depth) || (lim.Values > 0 && values > lim.Values) {
			return values, maxDepth
		}
	}
	return values, maxDepth
}

// cleanJSONError rewords encoding/json's errors so that none quotes the
// document: a syntax error's message holds the offending character, a type
// error's the path of keys the document chose.
func cleanJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return fmt.Errorf("the reply is not valid JSON (at byte %d)", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("the reply has a JSON %s where %s was expected (at byte %d)", jsonKind(te.Value), goType(te.Type), te.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the reply is not valid JSON (it ends early)")
	}
	return errors.New("the reply does not decode as the expected JSON")
}

// jsonKind is encoding/json's name of a JSON value's kind, kept only when it
// is one of its own words ("string", "number 1e999" is cut to "number").
func jsonKind(v string) string {
	for _, k := range []string{"string", "number", "bool", "array", "object", "null"} {
		if len(v) >= len(k) && v[:len(k)] == k {
			return k
		}
	}
	return "value"
}

func goType(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	return t.String()
}
