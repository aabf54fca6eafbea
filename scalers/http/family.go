// SPDX-License-Identifier: Apache-2.0

package http

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ebbscale/ebb/scalers"
)

// keepFamily reads a text-format page to its end (at most maxBody bytes, in
// lines of at most maxLine) and keeps the lines of the metric family name:
// its HELP and TYPE lines and its samples. For a name ending in _count it
// also keeps the family it may be the count of (a histogram's or summary's
// lines: base, base_bucket, base_sum, base_count). Other lines are dropped
// as they pass, so a page of any size holds no more memory than one family.
// The lines kept are bounded too (maxFamilyBytes, maxFamilySamples,
// maxFamilyLabels).
func keepFamily(r io.Reader, name string) ([]byte, error) {
	base, _ := strings.CutSuffix(name, "_count")
	if base == name {
		base = ""
	}
	br := bufio.NewReaderSize(&limitedBody{r: r, left: maxBody}, maxLine)
	var kept bytes.Buffer
	samples, labels := 0, 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("the page has a line longer than %d KiB: %w", maxLine>>10, &scalers.TooLargeError{What: "bytes in a line", Limit: maxLine})
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if len(line) > 0 && keepLine(line, name, base) {
			if !isComment(line) {
				samples++
				labels += bytes.Count(line, []byte{'='})
			}
			switch {
			case kept.Len()+len(line) > maxFamilyBytes:
				return nil, fmt.Errorf("metric %s: %w", name, &scalers.TooLargeError{What: "bytes of its lines", Limit: maxFamilyBytes})
			case samples > maxFamilySamples:
				return nil, fmt.Errorf("metric %s: %w", name, &scalers.TooLargeError{What: "series", Limit: maxFamilySamples})
			case labels > maxFamilyLabels:
				return nil, fmt.Errorf("metric %s: %w", name, &scalers.TooLargeError{What: "label pairs", Limit: maxFamilyLabels})
			}
			kept.Write(line)
			if line[len(line)-1] != '\n' {
				kept.WriteByte('\n')
			}
		}
		if err != nil { // io.EOF
			return kept.Bytes(), nil
		}
	}
}

// limitedBody reads at most left bytes from r, then fails with a
// *scalers.TooLargeError: a page larger than the bound is refused, not cut
// into a page that reads as a smaller one.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("the page: %w", &scalers.TooLargeError{What: "bytes", Limit: maxBody})
		}
		return l.r.Read(p[:0])
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func isComment(line []byte) bool {
	return len(bytes.TrimLeft(line, " \t")) > 0 && bytes.TrimLeft(line, " \t")[0] == '#'
}

// keepLine says whether a line belongs to the family name (or, when base is
// set, to the histogram or summary base).
func keepLine(line []byte, name, base string) bool {
	line = bytes.TrimLeft(line, " \t")
	if len(line) == 0 {
		return false
	}
	if line[0] == '#' {
		// "# HELP <name> ..." and "# TYPE <name> ..."; other comments go.
		f := bytes.Fields(line[1:])
		if len(f) < 2 || (string(f[0]) != "HELP" && string(f[0]) != "TYPE") {
			return false
		}
		n := unquoteName(f[1])
		return n == name || (base != "" && n == base)
	}
	n := sampleName(line)
	if n == name {
		return true
	}
	if base == "" {
		return false
	}
	rest, ok := strings.CutPrefix(n, base)
	return ok && (rest == "" || rest == "_bucket" || rest == "_sum" || rest == "_count")
}

// sampleName is the metric name of a sample line: the text before its
// labels or value, or, in the UTF-8 form {"name", label="v"} v, the quoted
// name.
func sampleName(line []byte) string {
	if line[0] == '{' {
		rest := bytes.TrimLeft(line[1:], " \t")
		if len(rest) > 0 && rest[0] == '"' {
			return unquoteName(rest)
		}
		return ""
	}
	end := bytes.IndexAny(line, "{ \t\r\n")
	if end < 0 {
		end = len(line)
	}
	return string(line[:end])
}

// unquoteName is a metric name as written: bare, or between double quotes
// (where a backslash escapes the next byte).
func unquoteName(b []byte) string {
	if len(b) == 0 || b[0] != '"' {
		return string(b)
	}
	var out []byte
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			if i+1 < len(b) {
				i++
				out = append(out, b[i])
			}
		case '"':
			return string(out)
		default:
			out = append(out, b[i])
		}
	}
	return string(out)
}
