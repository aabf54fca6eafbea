// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestReadLimitedRefusesWhatExceedsItsLimit(t *testing.T) {
	const limit = 1 << 20
	if b, err := ReadLimited(strings.NewReader(strings.Repeat("x", limit)), limit); err != nil || len(b) != limit {
		t.Errorf("a reply of exactly the limit: %d bytes, %v", len(b), err)
	}
	reply := io.MultiReader(strings.NewReader(strings.Repeat("x", limit)), endless{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadLimited(reply, limit)
	runtime.ReadMemStats(&after)
	var tl *TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, ErrReplyTooLarge) || tl.Limit != limit {
		t.Fatalf("an endless reply: %v, want a TooLargeError at %d", err, limit)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > limit+limit/4 {
		t.Errorf("refusing an endless reply allocated %d bytes, want about the limit (%d)", grew, limit)
	}
	if strings.Contains(err.Error(), "xxx") {
		t.Errorf("error %q quotes the reply", err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'y'
	}
	return len(p), nil
}

func TestCheckJSONCountsValuesAndNesting(t *testing.T) {
	cases := map[string]struct {
		doc           string
		values, depth int
	}{
		"a scalar":                      {`42`, 1, 0},
		"an object":                     {`{"a":1,"b":[true,false,null]}`, 8, 2},
		"an array of empty objects":     {`[{},{},{}]`, 4, 2},
		"brackets and quotes in string": {`["[{\"x\\\\",  "]"]`, 3, 1},
		"numbers with signs":            {`[-1.5e+10, 2E-3, 0]`, 4, 1},
		"nothing but space":             {" \n\t", 0, 0},
	}
	for name, c := range cases {
		values, depth := countJSON([]byte(c.doc), JSONLimits{})
		if values != c.values || depth != c.depth {
			t.Errorf("%s: %d values, depth %d; want %d, %d", name, values, depth, c.values, c.depth)
		}
	}
	lim := JSONLimits{Bytes: 1 << 20, Values: 1000, Depth: 4}
	for doc, what := range map[string]string{
		"[" + strings.Repeat("{},", 1000) + "{}]":       "JSON values",
		strings.Repeat("[", 5) + strings.Repeat("]", 5): "levels of nesting",
		`"` + strings.Repeat("x", 1<<20) + `"`:          "bytes",
	} {
		var tl *TooLargeError
		if err := CheckJSON([]byte(doc), lim); !errors.As(err, &tl) || tl.What != what {
			t.Errorf("%.30s...: %v, want too many %s", doc, err, what)
		}
	}
}

func TestDecodeJSONErrorsNeverQuoteTheReply(t *testing.T) {
	var v struct {
		N int `json:"n"`
		M map[string]int
	}
	for _, doc := range []string{`{"n":"SECRET"}`, `{"n":1,SECRET}`, `{"M":{"SECRET":"x"}}`, `{"n":1e999}`, `{"n":`} {
		err := DecodeJSON([]byte(doc), JSONLimits{Bytes: 1 << 10, Values: 100, Depth: 8}, &v)
		if err == nil || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "1e999") {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

// FuzzCheckJSON: for any valid JSON document, countJSON counts the values
// encoding/json's tokenizer sees, and the nesting it sees; for any bytes,
// nothing panics.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,"b",{"c":null}],"d":true}`, `"\"[{"`, `[-0.5e-3,1E+2]`, `[[[[]]]]`, `{"items":[{"name":"q","messages":3}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		values, depth := countJSON(data, JSONLimits{})
		if !json.Valid(data) {
			return
		}
		d := json.NewDecoder(bytes.NewReader(data))
		wantValues, wantDepth, level := 0, 0, 0
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			switch tok {
			case json.Delim('{'), json.Delim('['):
				wantValues++
				level++
				wantDepth = max(wantDepth, level)
			case json.Delim('}'), json.Delim(']'):
				level--
			default:
				wantValues++
			}
		}
		if values != wantValues || depth != wantDepth {
			t.Fatalf("%q: counted %d values, depth %d; the tokenizer sees %d, %d", data, values, depth, wantValues, wantDepth)
		}
	})
}
