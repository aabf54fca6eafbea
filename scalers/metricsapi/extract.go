// SPDX-License-Identifier: Apache-2.0

package metricsapi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ebbscale/ebb/scalers"
)

// Formats, as written in the format key.
const (
	formatJSON       = "json"
	formatYAML       = "yaml"
	formatXML        = "xml"
	formatPrometheus = "prometheus"
)

// Bounds of an answer. A metrics endpoint serves a small document; these
// are far above that, and keep a hostile answer's cost at a few MiB.
const (
	// maxBody bounds the answer's bytes, in every format.
	maxBody = 1 << 20
	// maxLocation bounds valueLocation.
	maxLocation = 1024
	// maxDepth bounds the nesting of a JSON, YAML or XML answer.
	maxDepth = 64
	// maxYAMLBody bounds a YAML answer, which is parsed whole into a tree
	// of nodes (a few hundred bytes each) before the path is walked.
	maxYAMLBody = 256 << 10
	// maxAliasHops bounds the YAML aliases followed along the path.
	maxAliasHops = 16
)

// jsonLimits bound a JSON answer before GJSON reads it: GJSON allocates
// nothing per value, but recurses once per level of nesting.
var jsonLimits = scalers.JSONLimits{Bytes: maxBody, Depth: maxDepth}

// location is a checked valueLocation.
type location struct {
	format string
	// raw is valueLocation as written: a GJSON path for json.
	raw string
	// steps are the yaml and xml path: keys (element names) and indexes.
	steps []string
	// metric and labels select a series of the prometheus format.
	metric string
	labels []label
}

type label struct{ name, value string }

// parseLocation checks valueLocation for a format. Its errors may quote
// valueLocation: it is the trigger's own metadata.
func parseLocation(format, loc string) (location, error) {
	l := location{format: format, raw: loc}
	switch {
	case strings.TrimSpace(loc) == "":
		return l, errors.New("expected where the value is in the answer, found an empty string")
	case len(loc) > maxLocation:
		return l, fmt.Errorf("expected at most %d characters, found %d", maxLocation, len(loc))
	}
	switch format {
	case formatYAML, formatXML:
		l.steps = strings.Split(loc, ".")
		for _, s := range l.steps {
			if s == "" {
				return l, fmt.Errorf("expected a dot-separated path such as components.worker.tasks, found an empty step in %q", loc)
			}
		}
		if format == formatXML && isIndex(l.steps[0]) {
			return l, fmt.Errorf("expected the root element's name first, found the index %q", l.steps[0])
		}
	case formatPrometheus:
		var err error
		l.metric, l.labels, err = parseSelector(loc)
		if err != nil {
			return l, err
		}
	}
	return l, nil
}

// extract reads the value at l in an answer. Its errors never quote the
// answer: they say what was found in words of their own.
func extract(l location, body []byte) (float64, error) {
	switch l.format {
	case formatYAML:
		return extractYAML(l, body)
	case formatXML:
		return extractXML(l, body)
	case formatPrometheus:
		return extractPrometheus(l, body)
	default:
		return extractJSON(l, body)
	}
}

func extractJSON(l location, body []byte) (float64, error) {
	if err := scalers.CheckJSON(body, jsonLimits); err != nil {
		return 0, err
	}
	if !gjson.ValidBytes(body) {
		return 0, errors.New("the answer is not valid JSON (is format right?)")
	}
	r := gjson.GetBytes(body, l.raw)
	switch r.Type {
	case gjson.Number:
		return number(r.Raw)
	case gjson.String:
		return number(r.Str)
	case gjson.Null:
		if !r.Exists() {
			return 0, errNothing
		}
		return 0, errors.New("valueLocation selects null; expected a number")
	case gjson.True, gjson.False:
		return 0, errors.New("valueLocation selects a boolean; expected a number")
	default:
		if r.IsArray() {
			return 0, errors.New("valueLocation selects an array; expected a number (select one element, e.g. items.0.count, or aggregate with GJSON's #, e.g. items.#)")
		}
		return 0, errors.New("valueLocation selects an object; expected a number")
	}
}

// errNothing says that valueLocation selects nothing in the answer.
var errNothing = errors.New("valueLocation selects nothing in the answer")

func extractYAML(l location, body []byte) (float64, error) {
	if len(body) > maxYAMLBody {
		return 0, &scalers.TooLargeError{What: "bytes of YAML", Limit: maxYAMLBody}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(body, &doc); err != nil {
		// go-yaml's messages quote the document.
		return 0, errors.New("the answer is not valid YAML (is format right?)")
	}
	n := &doc
	hops := 0
	deref := func() error {
		for n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode {
			if hops++; hops > maxAliasHops || (n.Kind == yaml.AliasNode && n.Alias == nil) || (n.Kind == yaml.DocumentNode && len(n.Content) == 0) {
				return errNothing
			}
			if n.Kind == yaml.AliasNode {
				n = n.Alias
			} else {
				n = n.Content[0]
			}
		}
		return nil
	}
	for _, step := range l.steps {
		if err := deref(); err != nil {
			return 0, err
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == step {
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, ok := index(step); ok && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return 0, errNothing
		}
		n = next
	}
	if err := deref(); err != nil {
		return 0, err
	}
	switch {
	case n.Kind == yaml.MappingNode:
		return 0, errors.New("valueLocation selects a mapping; expected a number")
	case n.Kind == yaml.SequenceNode:
		return 0, errors.New("valueLocation selects a sequence; expected a number (add an index, e.g. items.0)")
	case n.Tag == "!!null":
		return 0, errors.New("valueLocation selects null; expected a number")
	case n.Tag == "!!bool":
		return 0, errors.New("valueLocation selects a boolean; expected a number")
	case n.Tag == "!!int":
		if v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return float64(v), nil
		}
	}
	return number(n.Value)
}

// extractXML walks the XML answer as a stream of tokens, never building it
// whole. The first step names the root element; each further step names a
// child element, optionally followed by an index among the siblings of that
// name (item.2 is the third <item>). A name without an index must be unique
// among its siblings. The selected element's text is the value.
func extractXML(l location, body []byte) (float64, error) {
	// pairs[i] is the name and index (-1: none given) of path level i.
	type pair struct {
		name string
		idx  int
	}
	var pairs []pair
	for _, s := range l.steps {
		if i, ok := index(s); ok && len(pairs) > 0 && pairs[len(pairs)-1].idx < 0 {
			pairs[len(pairs)-1].idx = i
			continue
		}
		if isIndex(s) {
			return 0, errNothing // two indexes in a row, or one after the root
		}
		pairs = append(pairs, pair{name: s, idx: -1})
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	d.Entity = nil
	var (
		depth   int   // open elements
		matched int   // the open elements that are all on the path
		seen    []int // seen[i]: children named pairs[i].name under the matched parent
		text    strings.Builder
		inValue bool // inside the selected element
		found   bool
		value   string
	)
	seen = make([]int, len(pairs))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return 0, fmt.Errorf("the answer is not valid XML (line %d; is format right?)", se.Line)
			}
			return 0, errors.New("the answer is not valid XML (is format right?)")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth++; depth > maxDepth {
				return 0, &scalers.TooLargeError{What: "levels of nesting", Limit: maxDepth}
			}
			if inValue {
				return 0, errors.New("valueLocation selects an element with child elements; expected one that holds a number")
			}
			if matched != depth-1 || matched >= len(pairs) {
				continue
			}
			p := pairs[matched]
			if t.Name.Local != p.name {
				continue
			}
			n := seen[matched]
			seen[matched]++
			switch {
			case p.idx < 0 && n > 0:
				return 0, fmt.Errorf("valueLocation step %q matches several elements; add an index, e.g. %s.0", p.name, p.name)
			case p.idx >= 0 && n != p.idx:
				continue
			}
			matched++
			if matched < len(seen) {
				seen[matched] = 0
			}
			if matched == len(pairs) {
				inValue = true
				text.Reset()
			}
		case xml.EndElement:
			if inValue && depth == len(pairs) {
				inValue, found, value = false, true, text.String()
			}
			if matched == depth {
				matched--
			}
			depth--
		case xml.CharData:
			if inValue && text.Len() < 256 {
				text.Write(t[:min(len(t), 256)])
			}
		}
	}
	if !found {
		return 0, errNothing
	}
	return number(strings.TrimSpace(value))
}

// extractPrometheus scans the Prometheus text format line by line for the
// one series that valueLocation selects: its metric name and every label
// matcher. It allocates only for the lines of that metric.
func extractPrometheus(l location, body []byte) (float64, error) {
	matches := 0
	var value []byte
	for len(body) > 0 {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte{'\n'})
		line = bytes.TrimLeft(line, " \t")
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		end := bytes.IndexAny(line, "{ \t")
		if end < 0 || string(line[:end]) != l.metric {
			continue
		}
		rest := line[end:]
		var labels []label
		if rest[0] == '{' {
			var err error
			labels, rest, err = parseLabels(rest[1:])
			if err != nil {
				return 0, err
			}
		}
		if !selects(labels, l.labels) {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) == 0 || len(fields) > 2 {
			return 0, errors.New("a line of the metric valueLocation names is not in the Prometheus text format")
		}
		matches++
		value = fields[0]
	}
	switch {
	case matches == 0:
		return 0, errors.New("valueLocation selects no series in the answer")
	case matches > 1:
		return 0, fmt.Errorf("valueLocation selects %d series; expected one: add label matchers, e.g. %s{queue=\"orders\"}", matches, l.metric)
	}
	return number(string(value))
}

// parseLabels reads `name="value",...}` (after the '{') and returns the
// labels and what follows the '}'. Label values may escape \\, \" and \n.
func parseLabels(s []byte) ([]label, []byte, error) {
	errSyntax := errors.New("a line of the metric valueLocation names has malformed labels")
	var labels []label
	for {
		s = bytes.TrimLeft(s, " \t")
		if len(s) > 0 && s[0] == '}' {
			return labels, s[1:], nil
		}
		eq := bytes.IndexByte(s, '=')
		if eq <= 0 {
			return nil, nil, errSyntax
		}
		name := string(bytes.TrimSpace(s[:eq]))
		s = bytes.TrimLeft(s[eq+1:], " \t")
		if len(s) == 0 || s[0] != '"' {
			return nil, nil, errSyntax
		}
		var v strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					c = '\n'
				default:
					c = s[i]
				}
			}
			v.WriteByte(c)
		}
		if i >= len(s) {
			return nil, nil, errSyntax
		}
		labels = append(labels, label{name: name, value: v.String()})
		s = bytes.TrimLeft(s[i+1:], " \t")
		switch {
		case len(s) > 0 && s[0] == ',':
			s = s[1:]
		case len(s) > 0 && s[0] == '}':
		default:
			return nil, nil, errSyntax
		}
	}
}

// selects says whether a series' labels have every wanted name and value.
func selects(have, want []label) bool {
	for _, w := range want {
		ok := false
		for _, h := range have {
			if h.name == w.name {
				ok = h.value == w.value
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// parseSelector reads a prometheus valueLocation: a metric name, then
// optionally label matchers in braces, `queue_depth{queue="orders"}`.
func parseSelector(loc string) (string, []label, error) {
	loc = strings.TrimSpace(loc)
	name, rest, braced := strings.Cut(loc, "{")
	name = strings.TrimSpace(name)
	if !isMetricName(name) {
		return "", nil, fmt.Errorf(`expected a metric name, optionally with label matchers, such as queue_depth{queue="orders"}, found %q`, loc)
	}
	if !braced {
		return name, nil, nil
	}
	labels, after, err := parseLabels([]byte(rest))
	if err != nil || strings.TrimSpace(string(after)) != "" {
		return "", nil, fmt.Errorf(`expected label matchers such as {queue="orders",region="eu"} after the metric name, found %q`, loc)
	}
	for _, l := range labels {
		if !isMetricName(l.name) || strings.Contains(l.name, ":") {
			return "", nil, fmt.Errorf("expected label names of letters, digits and underscores, found %q", l.name)
		}
	}
	return name, labels, nil
}

// isMetricName says whether s is a Prometheus metric name in the classic
// character set.
func isMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// isIndex says whether a path step is an index: digits only.
func isIndex(s string) bool {
	_, ok := index(s)
	return ok
}

func index(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = 10*n + int(s[i]-'0')
	}
	return n, true
}

// number reads the selected value: a number ("12", "1.5e3") or a
// Kubernetes quantity ("10Mi", "500m"). NaN and infinities are refused.
// Its errors do not quote s, which the server chose.
func number(s string) (float64, error) {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		q, qerr := resource.ParseQuantity(s)
		if qerr != nil {
			return 0, errors.New("the value valueLocation selects is not a number or a quantity such as 10Mi")
		}
		v = q.AsApproximateFloat64()
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errors.New("the value valueLocation selects is NaN or infinite, which is not a value to scale on")
	}
	return v, nil
}
