// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Host     string            `meta:"host,from=metadata+auth+env,secret"`
	Queue    string            `meta:"queueName"`
	Value    float64           `meta:"value,default=20,min=0"`
	Mode     string            `meta:"mode,default=QueueLength,enum=QueueLength|MessageRate"`
	Regex    bool              `meta:"useRegex,optional"`
	Page     int32             `meta:"pageSize,default=100,min=1"`
	Timeout  time.Duration     `meta:"timeout,default=10s"`
	Brokers  []string          `meta:"brokers,optional"`
	Headers  map[string]string `meta:"customHeaders,optional"`
	Password string            `meta:"password,from=auth,optional,secret"`
	Ignored  string
}

type crossConfig struct {
	A string `meta:"a,optional"`
	B string `meta:"b,optional"`
}

func (c *crossConfig) Validate() error {
	if (c.A == "") == (c.B == "") {
		return KeyError("a", "or key \"b\" must be set, not both and not neither")
	}
	return nil
}

func trig(md map[string]string) Trigger {
	return Trigger{Index: 2, Name: "orders", Type: "rabbitmq", Metadata: md}
}

func TestParseMetadataFillsTheConfig(t *testing.T) {
	tr := trig(map[string]string{
		"host": "amqp://guest:guest@localhost:5672/", "queueName": " work ", "value": "7.5",
		"mode": "MessageRate", "useRegex": "true", "pageSize": "5", "timeout": "3",
		"brokers": "a:1, b:2,", "customHeaders": "X-A=1, X-B = two",
	})
	tr.AuthParams = map[string]string{"password": " s3cret "}
	var c testConfig
	if err := ParseMetadata(tr, &c); err != nil {
		t.Fatal(err)
	}
	want := testConfig{
		Host: "amqp://guest:guest@localhost:5672/", Queue: "work", Value: 7.5, Mode: "MessageRate", Regex: true,
		Page: 5, Timeout: 3 * time.Second, Brokers: []string{"a:1", "b:2"},
		Headers: map[string]string{"X-A": "1", "X-B": "two"}, Password: " s3cret ",
	}
	if c.Host != want.Host || c.Queue != want.Queue || c.Value != want.Value || c.Mode != want.Mode ||
		c.Regex != want.Regex || c.Page != want.Page || c.Timeout != want.Timeout || c.Password != want.Password ||
		strings.Join(c.Brokers, ";") != "a:1;b:2" || len(c.Headers) != 2 || c.Headers["X-B"] != "two" {
		t.Errorf("parsed %+v\nwant   %+v", c, want)
	}
}

func TestParseMetadataDefaults(t *testing.T) {
	var c testConfig
	if err := ParseMetadata(trig(map[string]string{"host": "h", "queueName": "q"}), &c); err != nil {
		t.Fatal(err)
	}
	if c.Value != 20 || c.Mode != "QueueLength" || c.Page != 100 || c.Timeout != 10*time.Second || c.Regex {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestParseMetadataSources(t *testing.T) {
	tests := []struct {
		name string
		tr   Trigger
		want string
	}{
		{"metadata wins over authentication", Trigger{Metadata: map[string]string{"host": "m", "queueName": "q"}, AuthParams: map[string]string{"host": "a"}}, "m"},
		{"authentication is read when metadata lacks the key", Trigger{Metadata: map[string]string{"queueName": "q"}, AuthParams: map[string]string{"host": "a"}}, "a"},
		{"FromEnv reads the target container's variable", Trigger{Metadata: map[string]string{"queueName": "q", "hostFromEnv": "RABBIT"}, Env: map[string]string{"RABBIT": "e"}}, "e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c testConfig
			if err := ParseMetadata(tt.tr, &c); err != nil {
				t.Fatal(err)
			}
			if c.Host != tt.want {
				t.Errorf("host = %q, want %q", c.Host, tt.want)
			}
		})
	}
}

func TestParseMetadataErrors(t *testing.T) {
	tests := []struct {
		name     string
		md       map[string]string
		auth     map[string]string
		pending  bool
		wantKey  string
		wantText string
	}{
		{"a required key is missing", map[string]string{"host": "h"}, nil, false, "queueName", "is required"},
		{"a number is not a number", map[string]string{"host": "h", "queueName": "q", "value": "lots"}, nil, false, "value", `expected a number, found "lots"`},
		{"a number is below its minimum", map[string]string{"host": "h", "queueName": "q", "value": "-1"}, nil, false, "value", "at least 0"},
		{"a value is not in the enum", map[string]string{"host": "h", "queueName": "q", "mode": "Fast"}, nil, false, "mode", "one of QueueLength, MessageRate"},
		{"a bool is not a bool", map[string]string{"host": "h", "queueName": "q", "useRegex": "yes please"}, nil, false, "useRegex", "true or false"},
		{"a whole number has a fraction", map[string]string{"host": "h", "queueName": "q", "pageSize": "1.5"}, nil, false, "pageSize", "a whole number"},
		{"a duration does not parse", map[string]string{"host": "h", "queueName": "q", "timeout": "soon"}, nil, false, "timeout", "a duration"},
		{"a map is not key=value pairs", map[string]string{"host": "h", "queueName": "q", "customHeaders": "novalue"}, nil, false, "customHeaders", "key=value"},
		{"an unknown key is named", map[string]string{"host": "h", "queueName": "q", "queuename": "x"}, nil, false, "queuename", "is not a key of rabbitmq triggers"},
		{"FromEnv names a missing variable", map[string]string{"hostFromEnv": "NOPE", "queueName": "q"}, nil, false, "host", `names environment variable "NOPE"`},
		{"FromEnv on a key that cannot come from the environment", map[string]string{"host": "h", "queueName": "q", "passwordFromEnv": "P"}, nil, false, "password", "cannot be read from the environment"},
		{"FromEnv on a key that cannot come from the environment, while auth has it", map[string]string{"host": "h", "queueName": "q", "passwordFromEnv": "P"}, map[string]string{"password": "x"}, false, "password", "cannot be read from the environment"},
		{"an auth-only key in metadata, while auth has it too", map[string]string{"host": "h", "queueName": "q", "password": "m"}, map[string]string{"password": "x"}, false, "password", "cannot be set in metadata"},
		{"a key that may only come from the TriggerAuthentication is set in metadata", map[string]string{"host": "h", "queueName": "q", "password": "x"}, nil, false, "password", "cannot be set in metadata; set it in the TriggerAuthentication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := trig(tt.md)
			tr.AuthParams = tt.auth
			tr.AuthPending = tt.pending
			var c testConfig
			err := ParseMetadata(tr, &c)
			if err == nil {
				t.Fatalf("no error for %v", tt.md)
			}
			msg := err.Error()
			if !strings.Contains(msg, `trigger 2 "orders" (rabbitmq)`) {
				t.Errorf("error %q does not name the trigger", msg)
			}
			if !strings.Contains(msg, `key "`+tt.wantKey+`"`) {
				t.Errorf("error %q does not name key %q", msg, tt.wantKey)
			}
			if !strings.Contains(msg, tt.wantText) {
				t.Errorf("error %q does not say %q", msg, tt.wantText)
			}
		})
	}
}

func TestParseMetadataNeverShowsASecret(t *testing.T) {
	type cfg struct {
		Port int `meta:"port,from=auth,secret"`
	}
	tr := trig(nil)
	tr.AuthParams = map[string]string{"port": "hunter2"}
	err := ParseMetadata(tr, &cfg{})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error = %v; want one that does not show the secret", err)
	}
	if !strings.Contains(err.Error(), "a value that is not shown") || !strings.Contains(err.Error(), "from authentication") {
		t.Errorf("error %q does not say where the hidden value came from", err)
	}
}

func TestParseMetadataReportsEveryProblem(t *testing.T) {
	err := ParseMetadata(trig(map[string]string{"value": "x", "mode": "y"}), &testConfig{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{"host", "queueName", "value", "mode"} {
		if !strings.Contains(err.Error(), `key "`+key+`"`) {
			t.Errorf("error does not report key %q: %v", key, err)
		}
	}
}

func TestParseMetadataAtAdmissionTakesAuthKeysAsPresent(t *testing.T) {
	tr := trig(map[string]string{"queueName": "q"})
	tr.AuthPending = true
	if err := ParseMetadata(tr, &testConfig{}); err != nil {
		t.Fatalf("host may come from auth, so admission must accept it missing: %v", err)
	}
	tr.AuthPending = false
	if err := ParseMetadata(tr, &testConfig{}); err == nil {
		t.Fatal("with auth resolved, a missing host must be an error")
	}
}

func TestParseMetadataRunsTheConfigsValidate(t *testing.T) {
	err := ParseMetadata(trig(map[string]string{"a": "1", "b": "2"}), &crossConfig{})
	if err == nil || !strings.Contains(err.Error(), `trigger 2 "orders" (rabbitmq): key "a"`) {
		t.Fatalf("error = %v, want the config's own error with the trigger named", err)
	}
	if err := ParseMetadata(trig(map[string]string{"a": "1"}), &crossConfig{}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckTagsFindsMistakes(t *testing.T) {
	type badOption struct {
		A string `meta:"a,optinal"`
	}
	type badDefault struct {
		A int `meta:"a,default=ten"`
	}
	type defaultOutsideEnum struct {
		A string `meta:"a,default=c,enum=a|b"`
	}
	type badType struct {
		A []int `meta:"a"`
	}
	type duplicate struct {
		A string `meta:"a"`
		B string `meta:"a"`
	}
	type badSource struct {
		A string `meta:"a,from=metadata+vault"`
	}
	for name, cfg := range map[string]any{
		"a misspelt option": &badOption{}, "a default that does not parse": &badDefault{},
		"a default outside the enum": &defaultOutsideEnum{}, "an unsupported type": &badType{},
		"a key used twice": &duplicate{}, "an unknown source": &badSource{}, "a non-pointer": testConfig{},
	} {
		t.Run(name, func(t *testing.T) {
			if err := CheckTags(cfg); err == nil {
				t.Error("CheckTags accepted it")
			}
		})
	}
	if err := CheckTags(&testConfig{}); err != nil {
		t.Errorf("CheckTags(testConfig) = %v", err)
	}
}

func FuzzParseMetadata(f *testing.F) {
	f.Add("host", "amqp://x", "value", "1.5", "customHeaders", "a=b")
	f.Add("timeout", "1e300", "pageSize", "-0", "mode", "")
	f.Add("hostFromEnv", "X", "brokers", ",,,", "useRegex", "TRUE")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		tr := trig(map[string]string{k1: v1, k2: v2, k3: v3})
		tr.Env = map[string]string{"X": v1}
		var c testConfig
		err := ParseMetadata(tr, &c)
		if err == nil && c.Page < 1 {
			t.Fatalf("accepted pageSize %d below its minimum", c.Page)
		}
	})
}

func TestParseMetadataLeavesCrossKeyRulesForTheBuildWhenKeysAreDeferred(t *testing.T) {
	tr := trig(map[string]string{"aFromEnv": "A"})
	tr.AuthPending = true
	if err := ParseMetadata(tr, &crossConfig{}); err != nil {
		t.Fatalf("admission with a deferred key ran the cross-key rule: %v", err)
	}
	tr = trig(map[string]string{})
	tr.AuthPending = true
	if err := ParseMetadata(tr, &crossConfig{}); err == nil {
		t.Fatal("with nothing deferred, the cross-key rule must run at admission")
	}
}

func TestTriggerErrorNamesTheTrigger(t *testing.T) {
	tr := trig(nil)
	if err := TriggerError(tr, nil); err != nil {
		t.Errorf("TriggerError(nil) = %v", err)
	}
	var fe *FieldError
	err := TriggerError(tr, KeyError("queueName", "is empty"))
	if !errors.As(err, &fe) || fe.Trigger != tr.String() || fe.Key != "queueName" {
		t.Errorf("TriggerError(KeyError) = %#v, want the FieldError with the trigger's name", err)
	}
	named := &FieldError{Trigger: "another", Key: "k", Msg: "m"}
	if err := TriggerError(tr, named); !errors.As(err, &fe) || fe != named || err.Error() != tr.String()+": "+named.Error() {
		t.Errorf("TriggerError(a FieldError naming another trigger) = %v, want it wrapped after the trigger's name", err)
	}
	plain := errors.New("boom")
	if err := TriggerError(tr, plain); !errors.Is(err, plain) || err.Error() != tr.String()+": boom" {
		t.Errorf("TriggerError(plain) = %q, want %q wrapping it", err, tr.String()+": boom")
	}
}

func TestDeferred(t *testing.T) {
	md := map[string]string{"host": "h", "passwordFromEnv": "PW"}
	pending := trig(md)
	pending.AuthPending = true
	cases := []struct {
		name string
		tr   Trigger
		key  string
		want bool
	}{
		{"outside admission nothing is deferred", trig(md), "passwordFromEnv", false},
		{"a key in the metadata is known", pending, "host", false},
		{"a key read from the environment is deferred", pending, "password", true},
		{"a missing key that the TriggerAuthentication may give is deferred", pending, "address", true},
		{"a missing key that only the metadata gives is not deferred", pending, "queueName", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Deferred(tc.tr, "address", "host")(tc.key); got != tc.want {
				t.Errorf("Deferred(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
}

// SharedConn is a group of keys that several configs embed.
type SharedConn struct {
	Address  string `meta:"address"`
	Password string `meta:"password,optional,from=auth,secret"`
	Database int    `meta:"databaseIndex,default=0,min=0"`
}

type embeddingConfig struct {
	SharedConn
	List   string  `meta:"listName"`
	Length float64 `meta:"listLength,default=5"`
}

func TestParseMetadataReadsTheKeysOfAnEmbeddedStruct(t *testing.T) {
	tr := trig(map[string]string{"address": "db:6379", "listName": "jobs", "databaseIndex": "3"})
	tr.AuthParams = map[string]string{"password": "s3cret"}
	var c embeddingConfig
	if err := ParseMetadata(tr, &c); err != nil {
		t.Fatal(err)
	}
	if c.Address != "db:6379" || c.Password != "s3cret" || c.Database != 3 || c.List != "jobs" || c.Length != 5 {
		t.Errorf("parsed %+v", c)
	}

	err := ParseMetadata(trig(map[string]string{"listName": "jobs", "databaseIndex": "-1", "other": "x"}), &embeddingConfig{})
	for _, key := range []string{"address", "databaseIndex", "other"} {
		var fe *FieldError
		found := false
		for _, e := range unwrapAll(err) {
			if errors.As(e, &fe) && fe.Key == key {
				found = true
			}
		}
		if !found {
			t.Errorf("error %v does not name key %q", err, key)
		}
	}
	if err := CheckTags(&embeddingConfig{}); err != nil {
		t.Errorf("CheckTags: %v", err)
	}

	keys, err := Keys(&embeddingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, fmt.Sprintf("%s:%v%v%v", k.Key, k.FromMetadata, k.FromAuth, k.FromEnv))
	}
	want := "address:truefalsetrue password:falsetruefalse databaseIndex:truefalsetrue listName:truefalsetrue listLength:truefalsetrue"
	if strings.Join(got, " ") != want {
		t.Errorf("Keys = %v\nwant   %s", got, want)
	}
}

func TestCheckTagsFindsAKeyUsedTwiceAcrossAnEmbeddedStruct(t *testing.T) {
	type twice struct {
		SharedConn
		Again string `meta:"address"`
	}
	if err := CheckTags(&twice{}); err == nil || !strings.Contains(err.Error(), `"address" is used twice`) {
		t.Errorf("CheckTags = %v, want the key used twice", err)
	}
}

// unwrapAll flattens an errors.Join tree.
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var all []error
		for _, e := range j.Unwrap() {
			all = append(all, unwrapAll(e)...)
		}
		return all
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestADurationTaggedMsReadsABareNumberAsMilliseconds(t *testing.T) {
	type cfg struct {
		Timeout time.Duration `meta:"timeout,default=10s,min=0.001,ms"`
		Period  time.Duration `meta:"period,default=30s"`
	}
	for in, want := range map[string]time.Duration{
		"1500": 1500 * time.Millisecond, "2s": 2 * time.Second, "250ms": 250 * time.Millisecond, "2.5": 2500 * time.Microsecond,
	} {
		var c cfg
		tr := Trigger{Name: "t", Type: "x", Metadata: map[string]string{"timeout": in, "period": "3"}}
		if err := ParseMetadata(tr, &c); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if c.Timeout != want || c.Period != 3*time.Second {
			t.Errorf("timeout %q = %v, want %v (and period 3 = %v, want 3s)", in, c.Timeout, want, c.Period)
		}
	}
	var c cfg
	err := ParseMetadata(Trigger{Name: "t", Type: "x", Metadata: map[string]string{"timeout": "soon"}}, &c)
	if err == nil || !strings.Contains(err.Error(), "a number of milliseconds") {
		t.Errorf("a timeout that is no duration: %v, want an error saying a bare number is milliseconds", err)
	}
	type bad struct {
		N int `meta:"n,ms"`
	}
	if err := CheckTags(&bad{}); err == nil {
		t.Error("CheckTags accepted ms on an int")
	}
}
