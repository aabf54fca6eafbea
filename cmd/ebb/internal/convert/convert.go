// SPDX-License-Identifier: Apache-2.0

package convert

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ebbscale/ebb/scalers"
)

// Input is one YAML stream: a file, or standard input.
type Input struct {
	// Name names the input in findings and errors: a file name, or "stdin".
	Name string
	Data []byte
}

// Options configure Convert.
type Options struct {
	// Registry holds the trigger types Ebb serves; their `meta` tags say
	// which metadata keys each accepts. Required.
	Registry *scalers.Registry
}

// Severity says how much a finding matters.
type Severity int

// Severities, from least to most serious. Everything from Changed up is a
// loss: the output does not mean exactly what the input meant.
const (
	// Note: converted faithfully; the finding says how (a renamed annotation,
	// a default made explicit).
	Note Severity = iota
	// Changed: converted, but it behaves differently or needs an action
	// from the user.
	Changed
	// Dropped: a field or item with no Ebb equivalent, left out.
	Dropped
	// Skipped: a whole object not converted (not written).
	Skipped
	// Invalid: written, but Ebb would refuse it at `kubectl apply` as it is.
	Invalid
)

func (s Severity) String() string {
	switch s {
	case Note:
		return "note"
	case Changed:
		return "changed"
	case Dropped:
		return "dropped"
	case Skipped:
		return "skipped"
	case Invalid:
		return "invalid"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// Position names a document: its input, its 1-based index among the input's
// documents, and for an item of a `kind: List`, the item's index.
type Position struct {
	File  string
	Index int
	// Item is the index in the List's items, or -1.
	Item int
	// Line is the line of the input where the document starts.
	Line int
}

func (p Position) String() string {
	s := fmt.Sprintf("%s:%d", p.File, p.Index)
	if p.Item >= 0 {
		s += fmt.Sprintf(" items[%d]", p.Item)
	}
	return s
}

// Finding explains one thing about the conversion of one object.
type Finding struct {
	Pos Position
	// Kind, Namespace and Name name the object as written in the input.
	Kind, Namespace, Name string
	// Field is the path of the field in the input, e.g.
	// spec.triggers[0].useCachedMetrics; empty for the object as a whole.
	Field    string
	Severity Severity
	Message  string
}

// String is the finding as one line: where, what, how serious, why.
func (f Finding) String() string {
	var b strings.Builder
	b.WriteString(f.Pos.String())
	b.WriteByte(' ')
	b.WriteString(f.Kind)
	b.WriteByte(' ')
	switch {
	case f.Namespace != "":
		b.WriteString(f.Namespace + "/" + f.Name)
	case f.Name != "":
		b.WriteString(f.Name)
	default:
		b.WriteString("(unnamed)")
	}
	b.WriteString(": ")
	if f.Field != "" {
		b.WriteString(f.Field + ": ")
	}
	b.WriteString(f.Severity.String() + ": " + f.Message)
	return b.String()
}

// ReadError is a document that could not be read.
type ReadError struct {
	Pos Position
	Msg string
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("%s (line %d): %s", e.Pos, e.Pos.Line, e.Msg)
}

// Result is what Convert made.
type Result struct {
	// Documents are the output documents in input order, each a YAML
	// document without a separator: Ebb's objects, and the documents that
	// are not KEDA's, unchanged. When HTTPScaledObjects were converted, the
	// ClusterTriggerAuthentication their triggers name comes just before
	// the first of them.
	Documents [][]byte
	// Findings explain the conversion, in input order.
	Findings []Finding
	// Errors are the documents that could not be read. When there are any,
	// the output is incomplete and should not be used.
	Errors []*ReadError
}

// Lossy says whether anything did not carry over exactly: a finding of
// severity Changed or more.
func (r *Result) Lossy() bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Severity >= Changed })
}

// Counts counts the findings by severity.
func (r *Result) Counts() map[Severity]int {
	n := map[Severity]int{}
	for _, f := range r.Findings {
		n[f.Severity]++
	}
	return n
}

// WriteDocuments writes documents as one multi-document YAML stream.
func WriteDocuments(w io.Writer, docs [][]byte) error {
	var buf bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(d)
		if len(d) > 0 && d[len(d)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Convert converts every document of the inputs. It never fails as a whole:
// what cannot be read is in Result.Errors, what cannot be converted in
// Result.Findings.
func Convert(inputs []Input, o Options) *Result {
	c := &converter{reg: o.Registry, res: &Result{}}
	if c.reg == nil {
		c.reg, _ = scalers.NewRegistry()
	}
	c.collectRoutes(inputs)
	for _, in := range inputs {
		c.input(in)
	}
	c.finishRoutes()
	c.writeInterceptorAuth()
	c.checkReferences()
	slices.SortStableFunc(c.res.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(c.order[a.Pos.File], c.order[b.Pos.File]), cmp.Compare(a.Pos.Index, b.Pos.Index), cmp.Compare(a.Pos.Item, b.Pos.Item))
	})
	return c.res
}
