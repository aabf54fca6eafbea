// SPDX-License-Identifier: Apache-2.0

package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"
)

// rawDoc is one document of an input: its text and the line it starts on.
type rawDoc struct {
	text string
	line int
}

// splitDocuments splits a YAML stream at its `---` (and `...`) lines, keeping
// each document's text as written. Documents with nothing but blank lines and
// comments are left out, so indexes count real documents.
func splitDocuments(data []byte) []rawDoc {
	var docs []rawDoc
	var cur []string
	start := 1
	flush := func() {
		if !blank(cur) {
			docs = append(docs, rawDoc{text: strings.Join(cur, "\n"), line: start})
		}
		cur = nil
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		t := strings.TrimRight(l, "\r")
		if t == "---" || t == "..." || strings.HasPrefix(t, "--- ") || strings.HasPrefix(t, "---\t") {
			flush()
			start = i + 2
			if rest := strings.TrimSpace(t[3:]); rest != "" && !strings.HasPrefix(rest, "#") && strings.HasPrefix(t, "---") {
				// content on the separator line, as in `--- {a: 1}`
				cur = append(cur, rest)
				start = i + 1
			}
			continue
		}
		cur = append(cur, l)
	}
	flush()
	return docs
}

func blank(lines []string) bool {
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// parseDocument reads one document into plain values: map[string]any,
// []any, string, json.Number, bool and nil. Errors give lines of the whole
// input, counted from the document's first line.
func parseDocument(d rawDoc) (any, error) {
	j, err := sigsyaml.YAMLToJSON([]byte(d.text))
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		msg = yamlLine.ReplaceAllStringFunc(msg, func(s string) string {
			n, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
			return fmt.Sprintf("line %d", n+d.line-1)
		})
		return nil, fmt.Errorf("not valid YAML: %s", msg)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid YAML: %v", err)
	}
	return v, nil
}

// describe says what kind of value v is, without showing it.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "true or false"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}
