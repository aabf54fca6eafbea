// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"slices"
	"testing"
	"time"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

func TestAuthDigest(t *testing.T) {
	k := newAuthKeyer()
	base := []scalers.Resolved{{AuthParams: map[string]string{"username": "guest", "password": "a"}}}
	same := func(a, b []scalers.Resolved) bool { return k.digest(a) == k.digest(b) }
	for _, tc := range []struct {
		name  string
		other []scalers.Resolved
		equal bool
	}{
		{"the same values in another map are the same digest", []scalers.Resolved{{AuthParams: map[string]string{"password": "a", "username": "guest"}}}, true},
		{"a changed password is another digest", []scalers.Resolved{{AuthParams: map[string]string{"username": "guest", "password": "b"}}}, false},
		{"a value moved to another key is another digest", []scalers.Resolved{{AuthParams: map[string]string{"username": "guest", "passwd": "a"}}}, false},
		{"a value moved from auth to env is another digest", []scalers.Resolved{{AuthParams: map[string]string{"username": "guest"}, Env: map[string]string{"password": "a"}}}, false},
		{"values split differently over keys are another digest", []scalers.Resolved{{AuthParams: map[string]string{"username": "guestpassword", "": "a"}}}, false},
		{"a second trigger is another digest", append(slices.Clone(base), scalers.Resolved{}), false},
	} {
		if got := same(base, tc.other); got != tc.equal {
			t.Errorf("%s: equal = %v", tc.name, got)
		}
	}
	if newAuthKeyer().digest(base) == k.digest(base) {
		t.Error("two keyers give the same digest: the digest is not keyed")
	}
}

func TestRefreshTiming(t *testing.T) {
	for _, tc := range []struct {
		polling, lo, hi time.Duration
	}{
		{time.Second, 3 * time.Second, 4 * time.Second},
		{30 * time.Second, 18 * time.Second, 24 * time.Second},
		{10 * time.Minute, 36 * time.Second, 48 * time.Second},
	} {
		for range 100 {
			if d := refreshAfter(tc.polling); d < tc.lo || d > tc.hi {
				t.Fatalf("refreshAfter(%s) = %s, want %s-%s", tc.polling, d, tc.lo, tc.hi)
			}
		}
		if g := recheckGap(tc.polling); g >= tc.lo {
			t.Errorf("recheckGap(%s) = %s, not below the periodic refresh", tc.polling, g)
		}
	}
}

func TestUsesCredentials(t *testing.T) {
	for _, tc := range []struct {
		name string
		trig v1alpha1.Trigger
		uses bool
		refs []string
	}{
		{"metadata only", v1alpha1.Trigger{Metadata: map[string]string{"host": "amqp://x"}}, false, nil},
		{"a ...FromEnv key", v1alpha1.Trigger{Metadata: map[string]string{"hostFromEnv": "URL"}}, true, nil},
		{"a TriggerAuthentication", v1alpha1.Trigger{AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "a"}}, true, []string{"TriggerAuthentication/a"}},
		{"a ClusterTriggerAuthentication", v1alpha1.Trigger{AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "a", Kind: "ClusterTriggerAuthentication"}}, true, []string{"ClusterTriggerAuthentication/a"}},
	} {
		ts := []v1alpha1.Trigger{tc.trig, tc.trig}
		if got := usesCredentials(ts); got != tc.uses {
			t.Errorf("%s: usesCredentials = %v", tc.name, got)
		}
		if got := authRefKeys(ts); !slices.Equal(got, tc.refs) {
			t.Errorf("%s: authRefKeys = %q, want %q", tc.name, got, tc.refs)
		}
	}
}
