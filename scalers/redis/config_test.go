// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestTheConnectionKeysResolveToOneAddress(t *testing.T) {
	cases := map[string]struct {
		meta, auth map[string]string
		want       connKey
	}{
		"address with a port": {
			meta: map[string]string{"address": "redis.example:6380"},
			want: connKey{addr: "redis.example:6380"},
		},
		"address without a port is port 6379": {
			meta: map[string]string{"address": "redis.example"},
			want: connKey{addr: "redis.example:6379"},
		},
		"a bracketed IPv6 address, with and without a port": {
			meta: map[string]string{"address": "[::1]:7000"},
			want: connKey{addr: "[::1]:7000"},
		},
		"a bracketed IPv6 address without a port": {
			meta: map[string]string{"address": "[fd00::2]"},
			want: connKey{addr: "[fd00::2]:6379"},
		},
		"host and port": {
			meta: map[string]string{"host": "10.0.0.7", "port": "7001"},
			want: connKey{addr: "10.0.0.7:7001"},
		},
		"host alone is port 6379": {
			meta: map[string]string{"host": "redis.db.svc"},
			want: connKey{addr: "redis.db.svc:6379"},
		},
		"an IPv6 host": {
			meta: map[string]string{"host": "::1", "port": "7002"},
			want: connKey{addr: "[::1]:7002"},
		},
		"the address and credentials from the TriggerAuthentication, the database from metadata": {
			meta: map[string]string{"databaseIndex": "4"},
			auth: map[string]string{"address": "redis.example:6379", "username": "worker", "password": "s3cret"},
			want: connKey{addr: "redis.example:6379", db: 4, username: "worker", password: "s3cret"},
		},
		"enableTLS with unsafeSsl": {
			meta: map[string]string{"address": "redis.example:6380", "enableTLS": "true", "unsafeSsl": "true"},
			want: connKey{addr: "redis.example:6380", tls: true, unsafeSsl: true},
		},
		"tls: enable in the TriggerAuthentication": {
			meta: map[string]string{"address": "redis.example:6380"},
			auth: map[string]string{"tls": "enable", "unsafeSsl": "true"},
			want: connKey{addr: "redis.example:6380", tls: true, unsafeSsl: true},
		},
		"tls: disable in the TriggerAuthentication": {
			meta: map[string]string{"address": "redis.example:6380"},
			auth: map[string]string{"tls": "disable"},
			want: connKey{addr: "redis.example:6380"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := parseList(listTrigger(scalertest.With(tc.meta, "listName", "jobs"), tc.auth))
			if err != nil {
				t.Fatal(err)
			}
			if p.conn != tc.want || !p.complete {
				t.Errorf("conn = %+v (complete %v), want %+v", p.conn, p.complete, tc.want)
			}
		})
	}
}

func TestTheStreamModeFollowsTheKeysGiven(t *testing.T) {
	base := map[string]string{"address": "redis.example", "stream": "events"}
	cases := map[string]struct {
		meta   map[string]string
		kind   kind
		target float64
		group  string
	}{
		"pendingEntriesCount reads the group's pending entries": {
			meta: scalertest.With(base, "consumerGroup", "workers", "pendingEntriesCount", "12"), kind: kindPending, target: 12, group: "workers",
		},
		"lagCount reads the group's lag": {
			meta: scalertest.With(base, "consumerGroup", "workers", "lagCount", "3"), kind: kindLag, target: 3, group: "workers",
		},
		"streamLength reads the stream's length and ignores the group": {
			meta: scalertest.With(base, "consumerGroup", "workers", "streamLength", "50"), kind: kindStreamLength, target: 50,
		},
		"a group and no target: pending entries, target 5 (KEDA's default)": {
			meta: scalertest.With(base, "consumerGroup", "workers"), kind: kindPending, target: 5, group: "workers",
		},
		"no group and no target: stream length, target 5 (KEDA's default)": {
			meta: base, kind: kindStreamLength, target: 5,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := parseStream(streamTrigger(tc.meta, nil))
			if err != nil {
				t.Fatal(err)
			}
			if p.kind != tc.kind || p.target != tc.target || p.group != tc.group || p.key != "events" {
				t.Errorf("plan = kind %v, target %v, group %q, key %q; want %v, %v, %q, events", p.kind, p.target, p.group, p.key, tc.kind, tc.target, tc.group)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	p, err := parseList(listTrigger(map[string]string{"address": "r", "listName": "l"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.target != 5 || p.activation != 0 || p.timeout != 10*time.Second || p.conn.db != 0 || p.conn.tls {
		t.Errorf("defaults: target %v, activation %v, timeout %v, db %d, tls %v; want 5, 0, 10s, 0, false", p.target, p.activation, p.timeout, p.conn.db, p.conn.tls)
	}
}

func TestStreamKeysThatContradictEachOtherAreErrorsNamingTheKey(t *testing.T) {
	base := map[string]string{"address": "redis.example", "stream": "events", "consumerGroup": "g"}
	cases := map[string]struct {
		meta map[string]string
		key  string
	}{
		"pendingEntriesCount and lagCount":                {scalertest.With(base, "pendingEntriesCount", "5", "lagCount", "5"), "lagCount"},
		"streamLength and lagCount":                       {scalertest.With(base, "streamLength", "5", "lagCount", "5"), "lagCount"},
		"pendingEntriesCount and streamLength":            {scalertest.With(base, "pendingEntriesCount", "5", "streamLength", "5"), "streamLength"},
		"lagCount without a consumer group":               {scalertest.With(base, "consumerGroup", "", "lagCount", "5"), "consumerGroup"},
		"pendingEntriesCount without a consumer group":    {scalertest.With(base, "consumerGroup", "", "pendingEntriesCount", "5"), "consumerGroup"},
		"pendingEntriesCount with a blank consumer group": {scalertest.With(base, "consumerGroup", " ", "pendingEntriesCount", "5"), "consumerGroup"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := (&StreamType{}).Validate(streamTrigger(tc.meta, nil))
			var fe *scalers.FieldError
			if !errors.As(err, &fe) || fe.Key != tc.key || fe.Trigger == "" {
				t.Errorf("Validate = %v, want a FieldError naming the trigger and key %q", err, tc.key)
			}
		})
	}
}

func TestErrorsNeverShowCredentials(t *testing.T) {
	const secret = "hunter2-very-secret"
	cases := map[string]scalers.Trigger{
		"an address with user information": listTrigger(map[string]string{"address": "admin:" + secret + "@redis.example:6379", "listName": "l"}, nil),
		"a redis:// URL as address":        listTrigger(map[string]string{"address": "redis://admin:" + secret + "@redis.example:6379/0", "listName": "l"}, nil),
		"a password in metadata":           listTrigger(map[string]string{"address": "r", "listName": "l", "password": secret}, nil),
		"a key that does not decrypt":      listTrigger(map[string]string{"address": "r", "listName": "l", "enableTLS": "true"}, map[string]string{"cert": "x", "key": secret}),
	}
	for name, tr := range cases {
		t.Run(name, func(t *testing.T) {
			err := (&ListType{}).Validate(tr)
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "admin") {
				t.Errorf("error shows a credential: %v", err)
			}
		})
	}
}

func TestAdmissionLeavesKeysFromTheTriggerAuthenticationAndEnvironmentForLater(t *testing.T) {
	lists := &ListType{}
	pending := func(meta map[string]string) scalers.Trigger {
		tr := listTrigger(meta, nil)
		tr.AuthPending = true
		return tr
	}
	for name, meta := range map[string]map[string]string{
		"the address from the TriggerAuthentication":        {"listName": "jobs"},
		"the address, list and target from the environment": {"addressFromEnv": "REDIS_ADDRESS", "listNameFromEnv": "LIST", "listLengthFromEnv": "TARGET"},
		"host from the environment and port in metadata":    {"hostFromEnv": "REDIS_HOST", "port": "6380", "listName": "jobs"},
		"enableTLS in metadata, the CA still to come":       {"address": "redis.example:6380", "enableTLS": "true", "listName": "jobs"},
		"the password from the environment, not yet read":   {"address": "r", "passwordFromEnv": "REDIS_PASSWORD", "listName": "jobs"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := lists.Validate(pending(meta)); err != nil {
				t.Errorf("Validate at admission = %v", err)
			}
		})
	}
	for name, c := range map[string]struct {
		meta map[string]string
		key  string
	}{
		"a list length of zero written in metadata": {map[string]string{"listName": "jobs", "listLength": "0"}, "listLength"},
		"a malformed address written in metadata":   {map[string]string{"listName": "jobs", "address": "redis://r"}, "address"},
		"an empty list name written in metadata":    {map[string]string{"listName": ""}, "listName"},
	} {
		t.Run(name+" is still an error", func(t *testing.T) {
			err := lists.Validate(pending(c.meta))
			if err == nil || !strings.Contains(err.Error(), `"`+c.key+`"`) {
				t.Errorf("Validate at admission = %v, want an error naming %s", err, c.key)
			}
		})
	}
}

func TestParseAddress(t *testing.T) {
	good := map[string]string{
		"redis":              "redis:6379",
		"redis:1":            "redis:1",
		" redis.example:80 ": "redis.example:80",
		"10.1.2.3:6380":      "10.1.2.3:6380",
		"[::1]":              "[::1]:6379",
		"[2001:db8::1]:7000": "[2001:db8::1]:7000",
		"redis_master-0.svc": "redis_master-0.svc:6379",
	}
	for in, want := range good {
		host, port, err := parseAddress(in, defaultPort)
		if err != nil {
			t.Errorf("parseAddress(%q) = %v", in, err)
			continue
		}
		if got := net.JoinHostPort(host, strconv.Itoa(port)); got != want {
			t.Errorf("parseAddress(%q) = %s, want %s", in, got, want)
		}
	}
	for _, in := range []string{
		"", ":6379", "redis:", "redis:0", "redis:65536", "redis:-1", "redis:port", "::1", "::1:6379",
		"[::1", "[::1]:", "[redis]:6379", "[10.0.0.1]:6379", "redis://h:1", "u:p@h:1", "h h:1", "h/0:1", "h:1:2",
	} {
		if _, _, err := parseAddress(in, defaultPort); err == nil {
			t.Errorf("parseAddress(%q) accepted it", in)
		}
	}
}

func TestParseGroupsReadsBothReplyShapes(t *testing.T) {
	resp2 := []any{
		[]any{"name", "a", "consumers", int64(1), "pending", int64(2), "last-delivered-id", "5-1", "entries-read", int64(3), "lag", int64(4)},
		[]any{"name", "b", "consumers", int64(0), "pending", int64(0), "last-delivered-id", "0-0", "entries-read", nil, "lag", nil},
		[]any{"name", "c", "consumers", int64(0), "pending", int64(0), "last-delivered-id", "0-0"}, // Redis 6
	}
	resp3 := []any{map[any]any{"name": "a", "last-delivered-id": "5-1", "lag": int64(4)}}
	groups, err := parseGroups(resp2)
	if err != nil {
		t.Fatal(err)
	}
	want := []groupInfo{
		{name: "a", lastDeliveredID: "5-1", hasLag: true, lagKnown: true, lag: 4},
		{name: "b", lastDeliveredID: "0-0", hasLag: true},
		{name: "c", lastDeliveredID: "0-0"},
	}
	if len(groups) != len(want) {
		t.Fatalf("groups = %+v", groups)
	}
	for i := range want {
		if groups[i] != want[i] {
			t.Errorf("group %d = %+v, want %+v", i, groups[i], want[i])
		}
	}
	groups, err = parseGroups(resp3)
	if err != nil || len(groups) != 1 || groups[0] != want[0] {
		t.Errorf("RESP3 reply: %+v, %v", groups, err)
	}
	for name, bad := range map[string]any{
		"not a list":               "OK",
		"a group that is a number": []any{int64(1)},
		"an odd field list":        []any{[]any{"name"}},
		"a name that is a number":  []any{[]any{"name", int64(1)}},
		"a negative lag":           []any{[]any{"name", "a", "last-delivered-id", "1-0", "lag", int64(-1)}},
		"a lag that is text":       []any{[]any{"name", "a", "last-delivered-id", "1-0", "lag", "4"}},
		"an ID that is not one":    []any{[]any{"name", "a", "last-delivered-id", "(1-0"}},
	} {
		if _, err := parseGroups(bad); err == nil {
			t.Errorf("parseGroups accepted %s", name)
		}
	}
}

// FuzzConfig feeds arbitrary connection and stream keys through the parser
// and resolve: they never panic; an accepted address is one host:port that
// parses back to itself; errors name a key and never show a password.
func FuzzConfig(f *testing.F) {
	for _, seed := range [][6]string{
		{"127.0.0.1:6379", "", "", "events", "g", "lagCount"},
		{"", "redis.example", "6380", "s", "", "streamLength"},
		{"[::1]:7000", "", "", "s", "g", ""},
		{"redis://u:p@h:1/0", "", "", "s", "g", "pendingEntriesCount"},
		{"u:p@h", "h", "0", "", "", "lagCount"},
		{"::1", "", "70000", "s", " ", "pendingEntriesCount"},
		{"[", "[]", "-1", "\x00", "\n", "streamLength"},
		{"h:65535", "", "", "s", "g", "nope"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], seed[4], seed[5])
	}
	const password = "fuzz-password-Zq9"
	f.Fuzz(func(t *testing.T, address, host, port, stream, group, mode string) {
		meta := map[string]string{}
		for k, v := range map[string]string{"address": address, "host": host, "port": port, "stream": stream, "consumerGroup": group} {
			if v != "" {
				meta[k] = v
			}
		}
		if mode != "" {
			meta[mode] = "7"
		}
		tr := streamTrigger(meta, map[string]string{"password": password})
		p, err := parseStream(tr)
		if err != nil {
			if strings.Contains(err.Error(), password) {
				t.Fatalf("error shows the password: %v", err)
			}
			var fe *scalers.FieldError
			if !errors.As(err, &fe) || fe.Key == "" {
				t.Fatalf("error names no key: %v", err)
			}
			return
		}
		h, portStr, err := net.SplitHostPort(p.conn.addr)
		if err != nil {
			t.Fatalf("accepted address %q does not split: %v", p.conn.addr, err)
		}
		if n, err := strconv.Atoi(portStr); err != nil || n < 1 || n > 65535 {
			t.Fatalf("accepted address %q has port %q", p.conn.addr, portStr)
		}
		again, againPort, err := parseAddress(p.conn.addr, defaultPort)
		if err != nil || net.JoinHostPort(again, strconv.Itoa(againPort)) != p.conn.addr || again != h {
			t.Fatalf("accepted address %q does not parse back to itself: %q %d %v", p.conn.addr, again, againPort, err)
		}
		if p.target <= 0 || (p.kind != kindStreamLength && p.group == "") {
			t.Fatalf("accepted plan %+v has no target or no group", p)
		}
	})
}

// FuzzSeeds: the cluster and sentinel connection keys never panic, an error
// names a key and never the password, and accepted seeds are sorted,
// distinct host:port addresses that parse back to themselves.
func FuzzSeeds(f *testing.F) {
	for _, seed := range [][4]string{
		{"10.0.0.1:7000,10.0.0.2:7001", "", "", "m"},
		{"", "a,b,c", "7000", "m"},
		{"", "a,b", "1,2", ""},
		{"[::1]:7000, [::1]:7000", "", "", "m"},
		{"redis://u:p@h:1", "h", "x", "m"},
		{"", ",,,", ",", " "},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	const password = "fuzz-password-Zq9"
	f.Fuzz(func(t *testing.T, addresses, hosts, ports, master string) {
		meta := map[string]string{"listName": "l"}
		for k, v := range map[string]string{"addresses": addresses, "hosts": hosts, "ports": ports, "sentinelMaster": master} {
			if v != "" {
				meta[k] = v
			}
		}
		for _, c := range []config{&ClusterListConfig{}, &SentinelListConfig{}} {
			p, err := parse(trigger("redis-x", meta, map[string]string{"password": password, "sentinelPassword": password}), c)
			if err != nil {
				var fe *scalers.FieldError
				if strings.Contains(err.Error(), password) || !errors.As(err, &fe) || fe.Key == "" {
					t.Fatalf("error names no key, or shows the password: %v", err)
				}
				continue
			}
			seeds := p.conn.seeds()
			if len(seeds) == 0 || len(seeds) > maxSeeds || !slices.IsSorted(seeds) || len(slices.Compact(slices.Clone(seeds))) != len(seeds) {
				t.Fatalf("accepted seeds %q are not 1 to %d sorted, distinct addresses", seeds, maxSeeds)
			}
			for _, s := range seeds {
				h, port, err := parseAddress(s, defaultPort)
				if err != nil || net.JoinHostPort(h, strconv.Itoa(port)) != s {
					t.Fatalf("accepted seed %q does not parse back to itself: %v", s, err)
				}
			}
		}
	})
}
