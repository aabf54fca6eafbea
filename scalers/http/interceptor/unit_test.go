// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"math"
	"testing"
	"time"
)

func TestRoutesMatchByHostThenLongestPathPrefix(t *testing.T) {
	ic, err := New(Config{Routes: []Route{
		rt("shop", "shop.example", "/", "http://a"),
		rt("shop-api", "shop.example", "/api", "http://b"),
		rt("shop-api-v2", "shop.example", "/api/v2/", "http://c"),
		rt("any", "*", "/", "http://d"),
		rt("glob", "*.example", "/", "http://e"),
		rt("glob-api", "*.example", "/api", "http://e"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ host, path, want string }{
		{"shop.example", "/", "shop"},
		{"SHOP.example:8080", "/cart", "shop"},
		{"shop.example", "/api", "shop-api"},
		{"shop.example", "/api/orders", "shop-api"},
		{"shop.example", "/apiary", "shop"},
		{"shop.example", "/api/v2/x", "shop-api-v2"},
		{"shop.example.", "/api/v2", "shop-api"},
		{"other.example", "/api", "glob-api"},
		{"other.example", "/", "glob"},
		{"a.b.example", "/", "any"},
		{"example", "/", "any"},
	} {
		r := ic.set.Load().table.match(tc.host, tc.path)
		if r == nil || r.cfg.Name != tc.want {
			t.Errorf("%s%s → %v, want %s", tc.host, tc.path, r, tc.want)
		}
	}
}

func TestConfigIsChecked(t *testing.T) {
	for name, routes := range map[string][]Route{
		"a route without a name":       {rt("", "a", "/", "http://x")},
		"a name used twice":            {rt("a", "a", "/", "http://x"), rt("a", "b", "/", "http://x")},
		"a host and prefix used twice": {rt("a", "a", "/p", "http://x"), rt("b", "a", "/p", "http://y")},
		"a backend that is not http":   {rt("a", "a", "/", "ftp://x")},
		"a prefix without a slash":     {rt("a", "a", "p", "http://x")},
		"a service without namespace":  {{Name: "a", Host: "a", Backend: "http://x", Service: "web"}},
	} {
		if _, err := New(Config{Routes: routes}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestWindowRate(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	w := newWindow(10*time.Second, time.Second, t0.Add(-time.Hour))
	// 5 requests a second for 20 s.
	for s := 0; s < 20; s++ {
		for i := 0; i < 5; i++ {
			w.add(t0.Add(time.Duration(s)*time.Second + time.Duration(i)*200*time.Millisecond))
		}
	}
	now := t0.Add(20 * time.Second) // the start of a new, empty bucket
	if got := w.rate(now, 10*time.Second); math.Abs(got-5) > 0.01 {
		t.Fatalf("rate at the start of an empty bucket = %v, want 5 (9 full buckets over 9 s)", got)
	}
	if got := w.rate(t0.Add(19*time.Second+999*time.Millisecond), 10*time.Second); math.Abs(got-5) > 0.01 {
		t.Fatalf("rate at the end of a full bucket = %v, want 5", got)
	}
	if got := w.rate(t0.Add(60*time.Second), 10*time.Second); got != 0 {
		t.Fatalf("rate after 40 s of silence = %v, want 0", got)
	}
	young := newWindow(time.Minute, time.Second, t0)
	for i := 0; i < 20; i++ {
		young.add(t0.Add(time.Duration(i) * 100 * time.Millisecond))
	}
	if got := young.rate(t0.Add(2*time.Second), time.Minute); math.Abs(got-10) > 0.01 {
		t.Fatalf("a window 2 s old with 20 requests: rate %v, want 10", got)
	}
}
