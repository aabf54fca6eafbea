// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestConfigResolvesWhereAndWhatToRead(t *testing.T) {
	base := map[string]string{"queueName": "orders", "value": "10"}
	cases := map[string]struct {
		meta, auth map[string]string
		want       plan
	}{
		"an AMQP URL gives the protocol, address, vhost and credentials": {
			meta: scalertest.With(base, "host", "amqp://alice:s3cret@rabbit.example:5673/orders-vh"),
			want: plan{protocol: protocolAMQP, vhost: "orders-vh", where: "amqp://rabbit.example:5673",
				amqp: amqpKey{addr: "rabbit.example:5673", vhost: "orders-vh", username: "alice", password: "s3cret"}},
		},
		"an AMQP URL without a path or credentials reads the default vhost as guest": {
			meta: scalertest.With(base, "host", "amqp://rabbit.example"),
			want: plan{protocol: protocolAMQP, vhost: "/", where: "amqp://rabbit.example:5672",
				amqp: amqpKey{addr: "rabbit.example:5672", vhost: "/", username: "guest", password: "guest"}},
		},
		"an amqps URL uses TLS on port 5671": {
			meta: scalertest.With(base, "host", "amqps://u:p@rabbit.example/"),
			want: plan{protocol: protocolAMQP, vhost: "/", where: "amqps://rabbit.example:5671",
				amqp: amqpKey{tls: true, addr: "rabbit.example:5671", vhost: "/", username: "u", password: "p"}},
		},
		"username and password from the TriggerAuthentication replace the URL's": {
			meta: scalertest.With(base, "host", "amqp://alice:old@rabbit.example/vh"),
			auth: map[string]string{"username": "bob", "password": "new"},
			want: plan{protocol: protocolAMQP, vhost: "vh", where: "amqp://rabbit.example:5672",
				amqp: amqpKey{addr: "rabbit.example:5672", vhost: "vh", username: "bob", password: "new"}},
		},
		"vhostName replaces the URL's vhost": {
			meta: scalertest.With(base, "host", "amqp://u:p@rabbit.example/vh", "vhostName", "other"),
			want: plan{protocol: protocolAMQP, vhost: "other", where: "amqp://rabbit.example:5672",
				amqp: amqpKey{addr: "rabbit.example:5672", vhost: "other", username: "u", password: "p"}},
		},
		"a management URL's last path segment is the vhost": {
			meta: scalertest.With(base, "host", "http://u:p@rabbit.example:15672/orders-vh"),
			want: plan{protocol: protocolHTTP, vhost: "orders-vh", where: "http://rabbit.example:15672",
				http: httpKey{base: "http://rabbit.example:15672", username: "u", password: "p"}},
		},
		"a management URL without a path reads the default vhost": {
			meta: scalertest.With(base, "host", "https://u:p@rabbit.example"),
			want: plan{protocol: protocolHTTP, vhost: "/", where: "https://rabbit.example",
				http: httpKey{base: "https://rabbit.example", username: "u", password: "p"}},
		},
		"an escaped slash in a management URL is the default vhost": {
			meta: scalertest.With(base, "host", "http://u:p@rabbit.example:15672/%2F"),
			want: plan{protocol: protocolHTTP, vhost: "/", where: "http://rabbit.example:15672",
				http: httpKey{base: "http://rabbit.example:15672", username: "u", password: "p"}},
		},
		"path segments before the vhost are a prefix in front of /api": {
			meta: scalertest.With(base, "host", "http://rabbit.example/rabbitmq/vh", "vhostName", "other"),
			want: plan{protocol: protocolHTTP, vhost: "other", where: "http://rabbit.example/rabbitmq",
				http: httpKey{base: "http://rabbit.example/rabbitmq"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := parse(trigger(tc.meta, tc.auth))
			if err != nil {
				t.Fatal(err)
			}
			if p.protocol != tc.want.protocol || p.vhost != tc.want.vhost || p.where != tc.want.where ||
				p.amqp != tc.want.amqp || p.http != tc.want.http {
				t.Errorf("got protocol=%q vhost=%q where=%q amqp=%+v http=%+v\nwant protocol=%q vhost=%q where=%q amqp=%+v http=%+v",
					p.protocol, p.vhost, p.where, p.amqp, p.http,
					tc.want.protocol, tc.want.vhost, tc.want.where, tc.want.amqp, tc.want.http)
			}
		})
	}
}

func TestConfigDefaultsAndAliases(t *testing.T) {
	host := "http://u:p@127.0.0.1:15672/"
	cases := map[string]struct {
		meta  map[string]string
		check func(p plan) string
	}{
		"mode is QueueLength, activation 0, page size 100 and timeout 10s by default": {
			meta: map[string]string{"host": host, "queueName": "q", "value": "5"},
			check: func(p plan) string {
				if p.mode != modeQueueLength || p.activation != 0 || p.pageSize != 100 || p.timeout != 10*time.Second || p.excludeUnacked {
					return "defaults not applied"
				}
				return ""
			},
		},
		"queueLength is read as the target when value is not set": {
			meta: map[string]string{"host": host, "queueName": "q", "queueLength": "7"},
			check: func(p plan) string {
				if p.target != 7 {
					return "target is not 7"
				}
				return ""
			},
		},
		"a bare timeout is milliseconds, as in KEDA": {
			meta: map[string]string{"host": host, "queueName": "q", "value": "5", "timeout": "1500"},
			check: func(p plan) string {
				if p.timeout != 1500*time.Millisecond {
					return "timeout is " + p.timeout.String()
				}
				return ""
			},
		},
		"a timeout may be a Go duration": {
			meta: map[string]string{"host": host, "queueName": "q", "value": "5", "timeout": "3s"},
			check: func(p plan) string {
				if p.timeout != 3*time.Second {
					return "timeout is " + p.timeout.String()
				}
				return ""
			},
		},
		"useRegex without operation sums": {
			meta: map[string]string{"host": host, "queueName": "^q-", "value": "5", "useRegex": "true"},
			check: func(p plan) string {
				if p.operation != opSum {
					return "operation is " + p.operation
				}
				return ""
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := parse(trigger(tc.meta, nil))
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(p); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestConfigErrorsNeverShowTheHost(t *testing.T) {
	const secretHost = "amqp://alice:hunter2-very-secret@rabbit.example:5672/vh"
	cases := map[string]map[string]string{
		"a host with an unknown scheme": {"host": "ftp://alice:hunter2-very-secret@rabbit.example/", "queueName": "q", "value": "1"},
		"a host that does not parse":    {"host": "amqp://alice:hunter2-very-secret@rabbit example:x/", "queueName": "q", "value": "1"},
		"a protocol that disagrees":     {"host": secretHost, "queueName": "q", "value": "1", "protocol": "http"},
		"a mode over AMQP":              {"host": secretHost, "queueName": "q", "value": "1", "mode": "MessageRate"},
	}
	for name, meta := range cases {
		t.Run(name, func(t *testing.T) {
			err := NewType().Validate(trigger(meta, nil))
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "alice") {
				t.Errorf("error shows the host: %v", err)
			}
		})
	}
}

func TestAdmissionWithAuthPendingSkipsHostChecks(t *testing.T) {
	tr := trigger(map[string]string{"queueName": "q", "value": "5", "mode": "MessageRate"}, nil)
	tr.AuthPending = true
	if err := NewType().Validate(tr); err != nil {
		t.Fatalf("Validate with the host still to come from auth = %v", err)
	}
	tr.Metadata = scalertest.With(tr.Metadata, "protocol", "amqp")
	if err := NewType().Validate(tr); err == nil || !strings.Contains(err.Error(), `"mode"`) {
		t.Fatalf("Validate of MessageRate with protocol amqp = %v, want an error naming mode", err)
	}
}

func TestAdmissionWithAuthPendingAcceptsKeysStillToComeFromTheEnvironment(t *testing.T) {
	tr := trigger(map[string]string{"hostFromEnv": "RABBITMQ_URL", "queueNameFromEnv": "QUEUE", "valueFromEnv": "TARGET"}, nil)
	tr.AuthPending = true
	if err := NewType().Validate(tr); err != nil {
		t.Fatalf("Validate with host, queueName and value still to come from the environment = %v", err)
	}
	tr.AuthPending = false
	tr.Env = map[string]string{"RABBITMQ_URL": "amqp://rabbit.example/", "QUEUE": "orders", "TARGET": "0"}
	if err := NewType().Validate(tr); err == nil || !strings.Contains(err.Error(), `"value"`) {
		t.Fatalf("Validate with a resolved value of 0 = %v, want an error naming value", err)
	}
	tr.Metadata = scalertest.With(tr.Metadata, "valueFromEnv", "", "value", "3")
	tr.AuthPending = true
	tr.Metadata = scalertest.With(tr.Metadata, "queueNameFromEnv", "", "queueName", "")
	if err := NewType().Validate(tr); err == nil || !strings.Contains(err.Error(), `"queueName"`) {
		t.Fatalf("Validate with no queueName anywhere = %v, want an error naming queueName", err)
	}
}

func TestOperationsCombineQueueValues(t *testing.T) {
	vals := []float64{2, 4, 9}
	for op, want := range map[string]float64{opSum: 15, opAvg: 5, opMax: 9} {
		if got := combine(op, vals); got != want {
			t.Errorf("combine(%s) = %v, want %v", op, got, want)
		}
	}
}
