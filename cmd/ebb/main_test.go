// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/cmd/ebb/internal/demo"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		args     []string
		code     int
		stdout   string
		stderr   string
	}{
		{"no command prints the usage and fails", nil, 2, "", "Usage:"},
		{"help prints the usage", []string{"help"}, 0, "ebb demo", ""},
		{"help lists simulate", []string{"help"}, 0, "ebb simulate", ""},
		{"help lists explain", []string{"help"}, 0, "ebb explain", ""},
		{"help lists convert", []string{"help"}, 0, "ebb convert", ""},
		{"an unknown command is named", []string{"scale"}, 2, "", `unknown command "scale"`},
		{"demo refuses arguments", []string{"demo", "extra"}, 1, "", `unexpected arguments ["extra"]`},
		{"demo refuses a bad --exit-after", []string{"demo", "--exit-after", "soon"}, 1, "", "invalid value"},
		{"demo refuses an unknown source before starting anything", []string{"demo", "--source", "sqs"}, 1, "", `--source "sqs": want one of kafka, rabbitmq, postgresql`},
		{"demo refuses a plot that is not a PNG", []string{"demo", "--plot", "chart.svg"}, 1, "", "name the file *.png"},
		{"demo refuses a plot into a folder that does not exist, before starting anything", []string{"demo", "--plot", "/nonexistent/demo.png"}, 1, "", "--plot /nonexistent/demo.png: its folder does not exist"},
		{"demo --help shows its flags", []string{"demo", "--help"}, 0, "", "-plot"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, strings.NewReader(""), &stdout, &stderr, nil)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (stderr: %s)", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
		})
	}
}

func TestDemoFlags(t *testing.T) {
	defaults := demo.DefaultOptions()
	if d := defaults; d.Source != "kafka" || d.Records != 1000 || d.Rate != 10 || d.Target != 20 || d.MaxReplicas != 8 ||
		d.PollingInterval != 2*time.Second || d.Cooldown != 10*time.Second || d.ExitAfter != 0 || d.Plot != "" {
		t.Errorf("default options %+v", d)
	}
	for _, tc := range []struct {
		sentence string
		args     []string
		want     func(o *demo.Options)
		err      string
	}{
		{
			sentence: "no flags give the default run: kafka, 1,000 records, 10/s per replica, target 20, max 8",
			want:     func(*demo.Options) {},
		},
		{
			sentence: "every flag reaches its option",
			args: []string{"--source", "rabbitmq", "--rabbitmq-url", "amqp://u:p@10.0.0.1:5672/", "--postgresql-url", "postgres://x@y/z",
				"--records", "300", "--rate", "2.5", "--target", "5", "--max-replicas", "3", "--polling-interval", "4s",
				"--cooldown", "1m", "--exit-after", "90s", "--plot", "out/Run.PNG"},
			want: func(o *demo.Options) {
				o.Source, o.RabbitMQURL, o.PostgreSQLURL = "rabbitmq", "amqp://u:p@10.0.0.1:5672/", "postgres://x@y/z"
				o.Records, o.Rate, o.Target, o.MaxReplicas = 300, 2.5, 5, 3
				o.PollingInterval, o.Cooldown, o.ExitAfter, o.Plot = 4*time.Second, time.Minute, 90*time.Second, "out/Run.PNG"
			},
		},
		{sentence: "a rate of zero would never drain", args: []string{"--rate", "0"}, err: "--rate 0"},
		{sentence: "max replicas above 100 are refused", args: []string{"--max-replicas", "5000"}, err: "--max-replicas 5000: want 1 to 100"},
		{sentence: "a polling interval under a second is refused", args: []string{"--polling-interval", "500ms"}, err: "--polling-interval 500ms"},
		{sentence: "every bad value is named at once", args: []string{"--records", "0", "--target", "0"}, err: "--records 0: want at least 1\n--target 0"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			got, err := parseDemoFlags(tc.args, io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			tc.want(&want)
			if got != want {
				t.Errorf("options\n got %+v\nwant %+v", got, want)
			}
		})
	}
}
