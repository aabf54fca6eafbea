// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ebbscale/ebb/cmd/ebb/internal/convert"
	"github.com/ebbscale/ebb/cmd/internal/triggers"
	"github.com/ebbscale/ebb/scalers"
)

// Exit codes of `ebb convert` beyond 0 (all converted) and 1 (an input could
// not be read).
const exitConvertLoss = 3

// exitError is an error with its own exit code; run uses it.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode is the process exit code.
func (e *exitError) ExitCode() int { return e.code }

func convertCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ebb convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strict := fs.Bool("strict", false, "treat any loss as an error: write nothing, exit 3")
	quiet := fs.Bool("quiet", false, "leave out the notes (conversions that lose nothing) on stderr")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: ebb convert [flags] [file...]

Reads KEDA ScaledObjects, ScaledJobs, TriggerAuthentications and
ClusterTriggerAuthentications (keda.sh/v1alpha1) and the HTTP add-on's HTTPScaledObjects (http.keda.sh/v1alpha1, which
become ScaledObjects with http triggers for ebb-interceptor) from the files, or from
standard input when there are none or a file is "-": multi-document YAML, or a kind: List.
Writes Ebb's equivalents (ebb.dev/v1alpha1) to standard output as multi-document YAML;
other documents pass through unchanged.

On standard error, one line per finding names the document (file:index), the object,
the field and what happened to it: note (carried over, said how), changed (behaves
differently or needs an action), dropped (no Ebb equivalent, left out), skipped (object
not converted) or invalid (written, but Ebb would refuse it as it is).

Exit status: 0 all converted without loss; 1 a document could not be read (nothing is
written); 3 written, but something changed, was dropped, skipped or is invalid (with
--strict nothing is written).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	inputs, err := readInputs(fs.Args(), stdin)
	if err != nil {
		return err
	}
	reg, err := triggers.Registry(scalers.DefaultEgress())
	if err != nil {
		return err
	}
	res := convert.Convert(inputs, convert.Options{Registry: reg})
	for _, e := range res.Errors {
		fmt.Fprintln(stderr, e)
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d document(s) could not be read; nothing written", len(res.Errors))
	}
	for _, f := range res.Findings {
		if *quiet && f.Severity == convert.Note {
			continue
		}
		fmt.Fprintln(stderr, f)
	}
	lossy := res.Lossy()
	if !lossy || !*strict {
		if err := convert.WriteDocuments(stdout, res.Documents); err != nil {
			return fmt.Errorf("write the output: %w", err)
		}
	}
	if !lossy {
		return nil
	}
	msg := "converted with losses: " + summary(res.Counts())
	if *strict {
		msg = "--strict: nothing written: " + summary(res.Counts())
	}
	return &exitError{code: exitConvertLoss, msg: msg}
}

// readInputs reads the named files in order; "-", or no name, is stdin.
func readInputs(names []string, stdin io.Reader) ([]convert.Input, error) {
	if len(names) == 0 {
		names = []string{"-"}
	}
	var inputs []convert.Input
	readStdin := false
	for _, name := range names {
		if name == "-" {
			if readStdin {
				return nil, errors.New(`standard input ("-") named twice`)
			}
			readStdin = true
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read standard input: %w", err)
			}
			inputs = append(inputs, convert.Input{Name: "stdin", Data: data})
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err // "open <name>: <why>"
		}
		inputs = append(inputs, convert.Input{Name: name, Data: data})
	}
	return inputs, nil
}

// summary counts the findings that are losses, e.g. "2 dropped, 1 skipped".
func summary(n map[convert.Severity]int) string {
	var parts []string
	for _, s := range []convert.Severity{convert.Changed, convert.Dropped, convert.Skipped, convert.Invalid} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	return strings.Join(parts, ", ") + " (see above)"
}
