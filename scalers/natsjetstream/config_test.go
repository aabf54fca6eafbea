// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestConfigResolvesWhereAndWhatToRead(t *testing.T) {
	base := map[string]string{"stream": "ORDERS", "consumer": "worker"}
	seed := userSeed(t)
	cases := map[string]struct {
		meta, auth map[string]string
		want       plan
	}{
		"a NATS URL gives the servers; the port defaults to 4222": {
			meta: scalertest.With(base, "natsServerURL", "nats://nats.example"),
			want: plan{source: sourceProtocol, where: "nats://nats.example:4222", conn: connKey{servers: "nats://nats.example:4222"}},
		},
		"a bare host:port is a nats:// URL": {
			meta: scalertest.With(base, "natsServerURL", "nats.example:4223"),
			want: plan{source: sourceProtocol, where: "nats://nats.example:4223", conn: connKey{servers: "nats://nats.example:4223"}},
		},
		"a list of URLs, tls:// and IPv6 included, is one set of servers": {
			meta: scalertest.With(base, "natsServerURL", "tls://a.example:4222, nats://[::1]:4222 ,b.example"),
			want: plan{source: sourceProtocol, where: "tls://a.example:4222,nats://[::1]:4222,nats://b.example:4222",
				conn: connKey{servers: "tls://a.example:4222,nats://[::1]:4222,nats://b.example:4222"}},
		},
		"user information in the URL becomes the credentials, out of where": {
			meta: scalertest.With(base, "natsServerURL", "nats://alice:s3cret@nats.example:4222,nats://alice:s3cret@nats2.example:4222"),
			want: plan{source: sourceProtocol, where: "nats://nats.example:4222,nats://nats2.example:4222",
				conn: connKey{servers: "nats://nats.example:4222,nats://nats2.example:4222", username: "alice", password: "s3cret"}},
		},
		"a user without a password in the URL is a token, as in the NATS clients": {
			meta: scalertest.With(base, "natsServerURL", "nats://t0ken@nats.example:4222"),
			want: plan{source: sourceProtocol, where: "nats://nats.example:4222", conn: connKey{servers: "nats://nats.example:4222", token: "t0ken"}},
		},
		"username and password from the TriggerAuthentication replace the URL's": {
			meta: scalertest.With(base, "natsServerURL", "nats://alice:old@nats.example"),
			auth: map[string]string{"username": "bob", "password": "new"},
			want: plan{source: sourceProtocol, where: "nats://nats.example:4222", conn: connKey{servers: "nats://nats.example:4222", username: "bob", password: "new"}},
		},
		"a password alone replaces the URL's password": {
			meta: scalertest.With(base, "natsServerURL", "nats://alice:old@nats.example"),
			auth: map[string]string{"password": "new"},
			want: plan{source: sourceProtocol, where: "nats://nats.example:4222", conn: connKey{servers: "nats://nats.example:4222", username: "alice", password: "new"}},
		},
		"a token replaces the URL's user and password": {
			meta: scalertest.With(base, "natsServerURL", "nats://alice:old@nats.example"),
			auth: map[string]string{"token": "t0ken"},
			want: plan{source: sourceProtocol, where: "nats://nats.example:4222", conn: connKey{servers: "nats://nats.example:4222", token: "t0ken"}},
		},
		"an NKey seed replaces the URL's credentials": {
			meta: scalertest.With(base, "natsServerURL", "nats://t0ken@nats.example"),
			auth: map[string]string{"nkeySeed": seed},
			want: plan{source: sourceProtocol, where: "nats://nats.example:4222", conn: connKey{servers: "nats://nats.example:4222", nkeySeed: seed}},
		},
		"KEDA's monitoring endpoint reads the account $G over HTTP": {
			meta: scalertest.With(base, "natsServerMonitoringEndpoint", "nats.example:8222"),
			want: plan{source: sourceMonitoring, where: "http://nats.example:8222", http: monitorKey{base: "http://nats.example:8222"}, account: "$G"},
		},
		"useHttps and an account": {
			meta: scalertest.With(base, "natsServerMonitoringEndpoint", "[::1]:8222", "useHttps", "true", "account", "TEAM"),
			want: plan{source: sourceMonitoring, where: "https://[::1]:8222", http: monitorKey{base: "https://[::1]:8222"}, account: "TEAM"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := parse(trigger(tc.meta, tc.auth))
			if err != nil {
				t.Fatal(err)
			}
			if p.source != tc.want.source || p.where != tc.want.where || p.conn != tc.want.conn || p.http != tc.want.http || p.account != tc.want.account {
				t.Errorf("got source=%q where=%q conn=%+v http=%+v account=%q\nwant source=%q where=%q conn=%+v http=%+v account=%q",
					p.source, p.where, p.conn, p.http, p.account,
					tc.want.source, tc.want.where, tc.want.conn, tc.want.http, tc.want.account)
			}
			if p.stream != "ORDERS" || p.consumer != "worker" {
				t.Errorf("stream/consumer = %q/%q, want ORDERS/worker", p.stream, p.consumer)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	p, err := parse(trigger(map[string]string{"natsServerMonitoringEndpoint": "n:8222", "stream": "S", "consumer": "C"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.target != 10 || p.activation != 0 || p.timeout != 10*time.Second || p.account != "$G" {
		t.Errorf("defaults: target=%v activation=%v timeout=%v account=%q; want 10, 0, 10s, $G", p.target, p.activation, p.timeout, p.account)
	}
}

// A KEDA nats-jetstream trigger validates unchanged.
func TestAKEDATriggerValidatesUnchanged(t *testing.T) {
	keda := map[string]string{
		"natsServerMonitoringEndpoint": "nats.nats.svc.cluster.local:8222",
		"account":                      "$G",
		"stream":                       "mystream",
		"consumer":                     "pull_consumer",
		"lagThreshold":                 "10",
		"activationLagThreshold":       "2",
		"useHttps":                     "false",
	}
	if err := NewType().Validate(trigger(keda, nil)); err != nil {
		t.Fatal(err)
	}
}

// At admission the TriggerAuthentication and the environment are not read
// yet: a source, stream or consumer that comes from them is not required.
func TestAdmissionWaitsForTheTriggerAuthentication(t *testing.T) {
	cases := map[string]map[string]string{
		"no source in metadata (it may be in the TriggerAuthentication)": {"stream": "S", "consumer": "C"},
		"natsServerURL from the environment":                             {"natsServerURLFromEnv": "NATS_URL", "stream": "S", "consumer": "C"},
		"stream and consumer from the environment":                       {"natsServerURL": "nats://n:4222", "streamFromEnv": "STREAM", "consumerFromEnv": "CONSUMER"},
	}
	for name, meta := range cases {
		t.Run(name, func(t *testing.T) {
			tr := trigger(meta, nil)
			tr.AuthPending = true
			if err := NewType().Validate(tr); err != nil {
				t.Errorf("Validate at admission = %v", err)
			}
		})
	}
	// Without AuthPending, the same missing source is an error.
	err := NewType().Validate(trigger(cases["no source in metadata (it may be in the TriggerAuthentication)"], nil))
	if err == nil || !strings.Contains(err.Error(), `"natsServerMonitoringEndpoint"`) || !strings.Contains(err.Error(), `"natsServerURL"`) {
		t.Errorf("Validate = %v, want an error naming both sources", err)
	}
}

func TestCredentialErrorsNeverShowTheValue(t *testing.T) {
	base := map[string]string{"stream": "S", "consumer": "C"}
	const pw = "Secr3t-pw-value"
	cases := map[string]scalers.Trigger{
		"a URL that does not parse":           trigger(scalertest.With(base, "natsServerURL", "nats://u:"+pw+"@host:port:x"), nil),
		"a URL with an unknown scheme":        trigger(scalertest.With(base, "natsServerURL", "http://u:"+pw+"@host:4222"), nil),
		"URLs with different credentials":     trigger(scalertest.With(base, "natsServerURL", "nats://u:"+pw+"@a,nats://u:other@b"), nil),
		"an NKey seed that is not one":        trigger(scalertest.With(base, "natsServerURL", "nats://a"), map[string]string{"nkeySeed": pw}),
		"an account seed instead of a user's": trigger(scalertest.With(base, "natsServerURL", "nats://a"), map[string]string{"nkeySeed": accountSeed(t)}),
		"a password in metadata":              trigger(scalertest.With(base, "natsServerURL", "nats://a", "password", pw), nil),
	}
	for name, tr := range cases {
		t.Run(name, func(t *testing.T) {
			err := NewType().Validate(tr)
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			var fe *scalers.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %q is not a FieldError", err)
			}
			for _, s := range []string{pw, tr.AuthParams["nkeySeed"]} {
				if s != "" && strings.Contains(err.Error(), s) {
					t.Errorf("error shows a secret: %q", scalers.RedactString(err.Error(), s))
				}
			}
		})
	}
}

func userSeed(t testing.TB) string {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	return string(seed)
}

func accountSeed(t testing.TB) string {
	kp, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	return string(seed)
}

// marker is in every secret the fuzz test makes and in no other input, and
// in nothing Ebb writes itself: an error that contains it shows a secret.
const marker = "§"

// FuzzConfig feeds arbitrary sources, names and credentials to the config
// resolution. It must never panic; an error must be a FieldError naming one
// of the Type's keys and show no secret; a plan must name its endpoint
// without credentials.
func FuzzConfig(f *testing.F) {
	f.Add("nats://127.0.0.1:4222", "", "ORDERS", "worker", "", "", "", uint8(0))
	f.Add("nats://alice:pw@a.example,tls://[::1]:4223", "", "S", "C", "bob", "pw2", "", uint8(3))
	f.Add("nats://tok@n", "", "S", "C", "", "", "t0k", uint8(4))
	f.Add("a.example:4222 , b.example", "", "S-1_x", "C", "", "", "", uint8(0))
	f.Add("", "nats.svc:8222", "S", "C", "", "", "", uint8(8))
	f.Add("", "[::1]:8222", "S", "C", "u", "p", "", uint8(3))
	f.Add("nats://u:p@h:99999/x?y#z", "h:1", "a.b", "c*d", "", "", "", uint8(0))
	f.Add("nats://%zz@h", "http://x:1", "", " ", "", "p", "t", uint8(6))
	f.Add("nats://h:", "h:0", "ok", "ok>", "", "", "", uint8(0))
	f.Add("nats.example:4222", "", "S", "C", "alice", "pw", "", uint8(16))
	f.Add("nats.example,nats://b", "", "S", "C", "alice", "pw", "", uint8(16|64|2))
	f.Add("[::1]:4222", "", "S", "C", "", "", "tok", uint8(16|4))
	keys := configKeys()
	f.Fuzz(func(t *testing.T, rawURL, endpoint, stream, consumer, username, password, token string, flags uint8) {
		for _, s := range []string{rawURL, endpoint, stream, consumer, username} {
			if strings.Contains(s, marker) {
				return // only secrets carry the marker
			}
		}
		meta := map[string]string{"stream": stream, "consumer": consumer}
		auth := map[string]string{}
		if flags&16 != 0 {
			// A password in the URL's user information: the rest of the
			// fuzzed URL follows it as host, port and whatever else.
			rawURL = "nats://" + url.UserPassword(username, marker+password).String() + "@" + rawURL
		}
		if rawURL != "" {
			if flags&64 != 0 {
				auth["natsServerURL"] = rawURL
			} else {
				meta["natsServerURL"] = rawURL
			}
		}
		if endpoint != "" {
			meta["natsServerMonitoringEndpoint"] = endpoint
		}
		if flags&1 != 0 {
			auth["username"] = username
		}
		if flags&2 != 0 {
			auth["password"] = marker + password
		}
		if flags&4 != 0 {
			auth["token"] = marker + token
		}
		if flags&8 != 0 {
			meta["useHttps"] = "true"
		}
		if flags&32 != 0 {
			auth["nkeySeed"] = marker + password
		}

		p, err := parse(trigger(meta, auth))
		if err != nil {
			var fe *scalers.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is not a FieldError", err)
			}
			if !keys[fe.Key] {
				t.Fatalf("error %q names %q, not a key of the Type", err, fe.Key)
			}
			if strings.Contains(err.Error(), marker) {
				t.Fatalf("error shows a secret: %q", err)
			}
			return
		}
		if p.source == "" {
			t.Fatal("a plan without a source")
		}
		if strings.Contains(p.where, "@") || strings.Contains(p.where, marker) {
			t.Fatalf("where %q shows credentials", p.where)
		}
		if p.source == sourceProtocol {
			for _, s := range strings.Split(p.conn.servers, ",") {
				u, err := url.Parse(s)
				if err != nil || u.User != nil || (u.Scheme != "nats" && u.Scheme != "tls") {
					t.Fatalf("server %q is not a NATS URL without user information", s)
				}
			}
		}
		if checkName(p.stream) != nil || checkName(p.consumer) != nil {
			t.Fatalf("a plan with stream %q and consumer %q, which are not JetStream names", p.stream, p.consumer)
		}
	})
}

// configKeys lists the Config's metadata keys, from its meta tags.
func configKeys() map[string]bool {
	keys := map[string]bool{}
	infos, err := scalers.Keys(&Config{})
	if err != nil {
		panic(err) // the conformance suite checks the tags
	}
	for _, k := range infos {
		keys[k.Key] = true
	}
	return keys
}
