// SPDX-License-Identifier: Apache-2.0

package hostclaims

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

func so(ns, name string, created int64, host string) v1alpha1.ScaledObject {
	return v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.Unix(created, 0)},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef: v1alpha1.ScaleTarget{Name: name},
			Triggers: []v1alpha1.Trigger{{Type: "http", Metadata: map[string]string{
				"interceptorURL": "http://ebb-interceptor-admin.ebb:9090", "targetRequestRate": "10",
				"host": host, "service": name, "port": "80",
			}}},
		},
	}
}

// A claim outlives its namespace's routes by the grace period, and only
// then goes to a waiting namespace.
func TestAClaimHoldsThroughTheGracePeriod(t *testing.T) {
	const grace = time.Hour
	t0 := time.Unix(10_000, 0)
	owner := so("a", "web", 100, "shop.example")
	thief := so("b", "thief", 50, "shop.example") // older, but came after the claim

	c := Next(nil, Publishers([]v1alpha1.ScaledObject{owner}), nil, t0, grace)
	if got := c.Owner("shop.example", t0); got != "a" {
		t.Fatalf("first claim: %q", got)
	}
	// The thief arrives: the owner keeps it.
	c = Next(c, Publishers([]v1alpha1.ScaledObject{owner, thief}), nil, t0.Add(time.Minute), grace)
	if got := c.Owner("shop.example", t0); got != "a" || c["shop.example"].Release != nil {
		t.Fatalf("with a waiting claimant: %+v", c)
	}
	// The owner deletes its ScaledObject: a release time, still its own.
	t1 := t0.Add(2 * time.Minute)
	c = Next(c, Publishers([]v1alpha1.ScaledObject{thief}), nil, t1, grace)
	if r := c["shop.example"].Release; c.Owner("shop.example", t1) != "a" || r == nil || !r.Equal(t1.Add(grace)) {
		t.Fatalf("after the owner's delete: %+v", c)
	}
	// ... and recreates it (younger now) within the grace: the claim holds.
	recreated := so("a", "web", 20_000, "shop.example")
	c2 := Next(c, Publishers([]v1alpha1.ScaledObject{thief, recreated}), nil, t1.Add(30*time.Minute), grace)
	if c2.Owner("shop.example", t1.Add(30*time.Minute)) != "a" || c2["shop.example"].Release != nil {
		t.Fatalf("after the recreate: %+v", c2)
	}
	// Without the recreate, a later pass keeps the first release time ...
	c = Next(c, Publishers([]v1alpha1.ScaledObject{thief}), nil, t1.Add(30*time.Minute), grace)
	if r := c["shop.example"].Release; r == nil || !r.Equal(t1.Add(grace)) {
		t.Fatalf("the release moved: %+v", c)
	}
	// ... and once it passes, the waiting namespace gets the host.
	c = Next(c, Publishers([]v1alpha1.ScaledObject{thief}), nil, t1.Add(grace), grace)
	if got := c.Owner("shop.example", t1.Add(grace)); got != "b" {
		t.Fatalf("after the grace: owner %q", got)
	}
	// A lapsed claim nobody takes is dropped.
	c = Next(c, nil, nil, t1.Add(2*grace), grace)
	c = Next(c, nil, nil, t1.Add(4*grace), grace)
	if len(c) != 0 {
		t.Fatalf("claims of nobody: %+v", c)
	}
}

func TestTheOldestPublisherClaimsAFreeHost(t *testing.T) {
	t0 := time.Unix(10_000, 0)
	c := Next(nil, Publishers([]v1alpha1.ScaledObject{so("b", "x", 200, "shop.example"), so("a", "y", 100, "shop.example"), so("c", "z", 100, "*.example.com")}), nil, t0, time.Hour)
	if c.Owner("shop.example", t0) != "a" {
		t.Errorf("claims %+v, want shop.example for a", c)
	}
	if _, ok := c["*.example.com"]; ok {
		t.Errorf("an ungranted glob was claimed: %+v", c)
	}
}

func TestGrants(t *testing.T) {
	g := Grants{{Namespace: "edge", Hosts: []string{"*.example.com"}}, {Namespace: "shop", Hosts: []string{"shop.example.com"}}}
	for _, tc := range []struct {
		ns, host string
		want     bool
	}{
		{"edge", "*.example.com", true},
		{"other", "*.example.com", false},
		{"edge", "*.example.org", false},
		{"edge", "api.example.com", true},
		{"other", "api.example.com", false},
		{"shop", "shop.example.com", true},
		{"edge", "shop.example.com", true},
		{"other", "a.b.example.com", true},
		{"other", "example.com", true},
		{"other", "shop.example.org", true},
	} {
		if got := g.Allowed(tc.ns, tc.host); got != tc.want {
			t.Errorf("Allowed(%s, %s) = %v, want %v", tc.ns, tc.host, got, tc.want)
		}
	}
	if gr, err := ParseGrant("edge=*.Example.com, api.example.org"); err != nil || gr.Namespace != "edge" || len(gr.Hosts) != 2 || gr.Hosts[0] != "*.example.com" {
		t.Errorf("ParseGrant: %+v, %v", gr, err)
	}
	for _, bad := range []string{"edge", "=*.a", "edge=", "edge=*"} {
		if _, err := ParseGrant(bad); err == nil {
			t.Errorf("ParseGrant(%q) accepted", bad)
		}
	}
}

func TestClaimsRoundTripThroughTheConfigMap(t *testing.T) {
	r := time.Unix(500, 0).UTC()
	c := Claims{"shop.example": {Namespace: "a", Since: time.Unix(1, 0).UTC(), Release: &r}}
	got, err := Decode(&corev1.ConfigMap{Data: Encode(c)})
	if err != nil || got.Owner("shop.example", time.Unix(499, 0)) != "a" || got.Owner("shop.example", r) != "" {
		t.Errorf("round trip: %+v, %v", got, err)
	}
	if c, err := Decode(nil); err != nil || len(c) != 0 {
		t.Errorf("no ConfigMap: %+v, %v", c, err)
	}
}
