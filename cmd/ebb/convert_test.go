// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const kedaClean = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: orders
  namespace: shop
spec:
  scaleTargetRef:
    name: worker
  maxReplicaCount: 10
  triggers:
  - type: rabbitmq
    metadata:
      hostFromEnv: RABBITMQ_URL
      queueName: orders
      value: "20"
`

const kedaLossy = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: orders
  namespace: shop
spec:
  scaleTargetRef:
    name: worker
  triggers:
  - type: rabbitmq
    metadata:
      hostFromEnv: RABBITMQ_URL
      queueName: orders
      value: "20"
  - type: aws-sqs-queue
    metadata:
      value: "60"
`

func TestConvertCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	clean := write("clean.yaml", kedaClean)
	lossy := write("lossy.yaml", kedaLossy)
	bad := write("bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: [\n")
	notes := write("notes.yaml", strings.Replace(kedaClean, "  name: orders\n", "  name: orders\n  annotations:\n    autoscaling.keda.sh/paused: \"true\"\n", 1))

	for _, tc := range []struct {
		sentence string
		args     []string
		stdin    string
		code     int
		// out and errs are substrings of stdout and stderr; an empty out
		// list with noOut set requires stdout to be empty.
		out    []string
		noOut  bool
		errs   []string
		noErrs bool
	}{
		{
			sentence: "a lossless conversion from stdin exits 0 and says nothing",
			args:     []string{"convert"},
			stdin:    kedaClean,
			code:     0,
			out:      []string{"apiVersion: ebb.dev/v1alpha1\nkind: ScaledObject\n", "queueName: orders"},
			noErrs:   true,
		},
		{
			sentence: `"-" names stdin among files, read in order`,
			args:     []string{"convert", clean, "-"},
			stdin:    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: passed}\n",
			code:     0,
			out:      []string{"name: worker\n", "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: passed}\n"},
			noErrs:   true,
		},
		{
			sentence: "a loss writes the output, one line per finding and a summary, and exits 3",
			args:     []string{"convert", lossy},
			code:     3,
			out:      []string{"type: rabbitmq"},
			errs: []string{
				lossy + ":1 ScaledObject shop/orders: spec.triggers[1]: dropped: Ebb has no aws-sqs-queue scaler",
				"ebb convert: converted with losses: 1 dropped (see above)\n",
			},
		},
		{
			sentence: "--strict makes a loss an error with no output",
			args:     []string{"convert", "--strict", lossy},
			code:     3,
			noOut:    true,
			errs:     []string{"dropped: Ebb has no aws-sqs-queue scaler", "ebb convert: --strict: nothing written: 1 dropped"},
		},
		{
			sentence: "notes are printed but are no loss; --quiet leaves them out",
			args:     []string{"convert", notes},
			code:     0,
			out:      []string{`ebb.dev/paused: "true"`},
			errs:     []string{"note: written as ebb.dev/paused"},
		},
		{
			sentence: "--quiet leaves the notes out",
			args:     []string{"convert", "--quiet", notes},
			code:     0,
			out:      []string{`ebb.dev/paused: "true"`},
			noErrs:   true,
		},
		{
			sentence: "bad YAML names the file, the document and the line, writes nothing, and exits 1",
			args:     []string{"convert", clean, bad},
			code:     1,
			noOut:    true,
			errs:     []string{bad + ":2 (line 5): not valid YAML: yaml: line 5:", "ebb convert: 1 document(s) could not be read; nothing written"},
		},
		{
			sentence: "a missing file exits 1 naming it",
			args:     []string{"convert", filepath.Join(dir, "nope.yaml")},
			code:     1,
			noOut:    true,
			errs:     []string{"ebb convert: open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory"},
		},
		{
			sentence: "--help shows the exit codes and exits 0",
			args:     []string{"convert", "--help"},
			code:     0,
			noOut:    true,
			errs:     []string{"Usage: ebb convert [flags] [file...]", "3 written, but something changed", "-strict"},
		},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, strings.NewReader(tc.stdin), &stdout, &stderr, nil)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			for _, w := range tc.out {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			if tc.noOut && stdout.Len() > 0 {
				t.Errorf("stdout should be empty:\n%s", stdout.String())
			}
			for _, w := range tc.errs {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if tc.noErrs && stderr.Len() > 0 {
				t.Errorf("stderr should be empty:\n%s", stderr.String())
			}
		})
	}
}
