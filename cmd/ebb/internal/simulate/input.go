// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// LoadScaledObject reads the ScaledObject in a YAML file: the file's only
// document, or its one document of kind ScaledObject. Unknown fields are
// errors, so a typo does not pass for a default.
func LoadScaledObject(path string) (*v1alpha1.ScaledObject, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var found []*v1alpha1.ScaledObject
	for i, doc := range splitYAML(data) {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i+1, err)
		}
		if meta.Kind != "ScaledObject" {
			continue
		}
		if meta.APIVersion != v1alpha1.GroupVersion.String() {
			return nil, fmt.Errorf("%s: document %d: apiVersion %q: expected %s (convert KEDA objects with `ebb convert`)", path, i+1, meta.APIVersion, v1alpha1.GroupVersion)
		}
		so := &v1alpha1.ScaledObject{}
		if err := yaml.UnmarshalStrict(doc, so); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i+1, err)
		}
		found = append(found, so)
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%s: no ScaledObject (apiVersion %s, kind ScaledObject) in it", path, v1alpha1.GroupVersion)
	case 1:
		so := found[0]
		if len(so.Spec.Triggers) == 0 {
			return nil, fmt.Errorf("%s: ScaledObject %q: spec.triggers is empty: expected at least one trigger", path, so.Name)
		}
		if so.Spec.MinReplicas() > so.Spec.MaxReplicas() {
			return nil, fmt.Errorf("%s: ScaledObject %q: spec.minReplicaCount %d is above spec.maxReplicaCount %d", path, so.Name, so.Spec.MinReplicas(), so.Spec.MaxReplicas())
		}
		return so, nil
	default:
		return nil, fmt.Errorf("%s: %d ScaledObjects in it: expected one", path, len(found))
	}
}

func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if len(bytes.TrimSpace(cur.Bytes())) > 0 {
			docs = append(docs, bytes.Clone(cur.Bytes()))
		}
		cur.Reset()
	}
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if t := bytes.TrimRight(line, " \t\r\n"); bytes.Equal(t, []byte("---")) {
			flush()
			continue
		}
		cur.Write(line)
	}
	flush()
	return docs
}

// Series is one trigger's metric as observed: a step function, each point
// holding until the next. A point that is not OK is a failed read.
type Series struct {
	// Name says where the series came from, for errors and the chart.
	Name   string
	Points []Point
	// Start is the wall-clock time of offset zero when the times were
	// absolute (RFC 3339); zero otherwise.
	Start time.Time
}

// Point is one step of a Series.
type Point struct {
	At    time.Duration // since the start of the series
	Value float64
	OK    bool
}

// ReadSeriesFile reads a series from a CSV file (see ReadSeries).
func ReadSeriesFile(path string) (*Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadSeries(path, f)
}

// ReadSeries reads `time,value` lines: time in seconds from the start (a
// decimal number) or as an RFC 3339 time (then offset zero is the first
// row's time), every row in the same form and later than the one before;
// value a decimal number, or empty or `error` for a read that failed. A
// header line is allowed; blank lines and lines starting with # are
// skipped. Errors name the file and the line.
func ReadSeries(name string, r io.Reader) (*Series, error) {
	s := &Series{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	absolute := false
	var last time.Duration
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s line %d: %d fields: expected two, time,value", name, line, len(fields))
		}
		ts, vs := strings.TrimSpace(fields[0]), strings.TrimSpace(fields[1])
		var at time.Duration
		if secs, err := strconv.ParseFloat(ts, 64); err == nil && !math.IsNaN(secs) && !math.IsInf(secs, 0) {
			if len(s.Points) > 0 && absolute {
				return nil, fmt.Errorf("%s line %d: time %q: expected an RFC 3339 time like the rows before", name, line, ts)
			}
			if secs < 0 {
				return nil, fmt.Errorf("%s line %d: time %q: expected seconds from the start, 0 or more", name, line, ts)
			}
			at = time.Duration(math.Round(secs * float64(time.Second)))
		} else if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			if len(s.Points) == 0 {
				absolute, s.Start = true, t
			} else if !absolute {
				return nil, fmt.Errorf("%s line %d: time %q: expected seconds from the start like the rows before", name, line, ts)
			}
			at = t.Sub(s.Start)
		} else if len(s.Points) == 0 && isHeader(ts, vs) {
			continue
		} else {
			return nil, fmt.Errorf("%s line %d: time %q: expected seconds from the start (e.g. 12.5) or an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)", name, line, ts)
		}
		if len(s.Points) > 0 && at <= last {
			return nil, fmt.Errorf("%s line %d: time %q is not after the row before: expected rows in time order", name, line, ts)
		}
		last = at
		p := Point{At: at}
		switch strings.ToLower(vs) {
		case "", "error":
		default:
			v, err := strconv.ParseFloat(vs, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%s line %d: value %q: expected a number, or empty or \"error\" for a failed read", name, line, vs)
			}
			p.Value, p.OK = v, true
		}
		s.Points = append(s.Points, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s line %d: %w", name, line+1, err)
	}
	if len(s.Points) == 0 {
		return nil, fmt.Errorf("%s: no rows: expected time,value lines", name)
	}
	return s, nil
}

func isHeader(ts, vs string) bool {
	isWord := func(s string) bool {
		if s == "" {
			return false
		}
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == ' ' || r == '-') {
				return false
			}
		}
		return true
	}
	return isWord(ts) && isWord(vs) && !strings.EqualFold(vs, "error")
}

// End is the time of the series' last row.
func (s *Series) End() time.Duration { return s.Points[len(s.Points)-1].At }

// Align shifts series with absolute times onto one clock, offset zero at
// the earliest start among them. Mixing absolute and relative series is an
// error.
func Align(series []*Series) (time.Time, error) {
	var start time.Time
	var abs, rel []string
	for _, s := range series {
		if s.Start.IsZero() {
			rel = append(rel, s.Name)
			continue
		}
		abs = append(abs, s.Name)
		if start.IsZero() || s.Start.Before(start) {
			start = s.Start
		}
	}
	if len(abs) > 0 && len(rel) > 0 {
		return time.Time{}, fmt.Errorf("series %s have RFC 3339 times but %s have seconds from the start: expected one kind", strings.Join(abs, ", "), strings.Join(rel, ", "))
	}
	for _, s := range series {
		if s.Start.IsZero() || s.Start.Equal(start) {
			continue
		}
		shift := s.Start.Sub(start)
		for i := range s.Points {
			s.Points[i].At += shift
		}
		s.Start = start
	}
	return start, nil
}

// cursor reads a Series at increasing times in amortized constant time.
type cursor struct {
	s *Series
	i int // index of the last point at or before the last time read; -1 before the first
}

func newCursor(s *Series) *cursor { return &cursor{s: s, i: -1} }

// at returns the series' value at t, which must not be before the t of the
// previous call. Before the first row there is no value: a failed read.
func (c *cursor) at(t time.Duration) (float64, bool) {
	pts := c.s.Points
	for c.i+1 < len(pts) && pts[c.i+1].At <= t {
		c.i++
	}
	if c.i < 0 {
		return 0, false
	}
	p := pts[c.i]
	return p.Value, p.OK
}
