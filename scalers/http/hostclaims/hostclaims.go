// SPDX-License-Identifier: Apache-2.0

// Package hostclaims decides which namespace owns each host that
// interceptor routes are published for, and keeps that decision durable.
//
// A host belongs to one namespace. The first namespace to publish a route
// for a host (by its oldest ScaledObject with such a route) claims it; the
// claim holds while that namespace has a route on the host and for a grace
// period after its last one goes, so that a delete-and-recreate, a Helm
// upgrade or a restart of every interceptor does not hand the host to a
// namespace that was waiting for it. Only after the grace period may
// another namespace claim the host.
//
// The claims live in one ConfigMap (Name, in the operator's namespace; the
// chart does not render it, so upgrades keep it) with one writer: the
// operator's leader-elected controller (package controller, hostclaims.go)
// computes them with Next. Interceptors read them (clusterroutes) and serve
// a host's routes only from its owner; the admission webhook refuses a
// ScaledObject whose host another namespace owns.
//
// Host globs (*.example.com) come from administrators' grants (Grants): a
// glob route is served only in a namespace granted it, and a host a grant
// covers may be published only by a namespace with a grant covering it.
package hostclaims

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
	ebbhttp "github.com/ebbscale/ebb/scalers/http"
)

// Name is the ConfigMap that holds the claims, and Key its data key.
const (
	Name = "ebb-host-claims"
	Key  = "claims.json"
)

// DefaultGrace is how long a namespace keeps a host after its last route
// on it goes.
const DefaultGrace = time.Hour

// Claim is one host's owner.
type Claim struct {
	Namespace string `json:"namespace"`
	// Since is when the namespace claimed the host.
	Since time.Time `json:"since"`
	// Release, when set, is when the claim lapses: the namespace has had no
	// route on the host since Release minus the grace period.
	Release *time.Time `json:"release,omitempty"`
}

// Claims maps a host (as routes name it: lower case, or a glob) to its
// claim.
type Claims map[string]Claim

// Owner returns the namespace that owns host at now, "" when none does.
func (c Claims) Owner(host string, now time.Time) string {
	cl, ok := c[host]
	if !ok || (cl.Release != nil && !now.Before(*cl.Release)) {
		return ""
	}
	return cl.Namespace
}

// Decode reads the claims from the ConfigMap; a nil ConfigMap holds none.
func Decode(cm *corev1.ConfigMap) (Claims, error) {
	c := Claims{}
	if cm == nil || cm.Data[Key] == "" {
		return c, nil
	}
	if err := json.Unmarshal([]byte(cm.Data[Key]), &c); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s key %s: %w", cm.Namespace, cm.Name, Key, err)
	}
	return c, nil
}

// Encode writes the claims as the ConfigMap's data.
func Encode(c Claims) map[string]string {
	b, _ := json.Marshal(c) // a map of plain values
	return map[string]string{Key: string(b)}
}

// Publisher is a namespace's earliest ScaledObject with a route on a host.
type Publisher struct {
	Namespace string
	Created   time.Time
	Object    string // the ScaledObject's name, to break ties
}

// Publishers lists, per host, the namespaces publishing routes for it,
// oldest first (creation time, then namespace, then name). ScaledObjects
// being deleted and triggers whose route keys do not parse publish nothing.
func Publishers(objs []v1alpha1.ScaledObject) map[string][]Publisher {
	first := map[string]map[string]Publisher{} // host → namespace → earliest
	for i := range objs {
		so := &objs[i]
		if so.DeletionTimestamp != nil {
			continue
		}
		for j, t := range so.Spec.Triggers {
			r, ok, err := ebbhttp.RouteOf(scalers.Trigger{Namespace: so.Namespace, ScaledObject: so.Name, Index: j,
				Name: so.Spec.TriggerName(j), Type: t.Type, Metadata: t.Metadata, MetricType: t.MetricType})
			if err != nil || !ok {
				continue
			}
			p := Publisher{Namespace: so.Namespace, Created: so.CreationTimestamp.Time, Object: so.Name}
			byNS := first[r.Host]
			if byNS == nil {
				byNS = map[string]Publisher{}
				first[r.Host] = byNS
			}
			if q, seen := byNS[so.Namespace]; !seen || older(p, q) {
				byNS[so.Namespace] = p
			}
		}
	}
	out := make(map[string][]Publisher, len(first))
	for host, byNS := range first {
		ps := make([]Publisher, 0, len(byNS))
		for _, p := range byNS {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return older(ps[i], ps[j]) })
		out[host] = ps
	}
	return out
}

func older(a, b Publisher) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.Before(b.Created)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Object < b.Object
}

// Next computes the claims from the previous ones, the hosts' publishers
// (Publishers) and the grants, at now:
//   - a claim whose namespace still publishes the host holds (its release
//     cleared);
//   - a claim whose namespace no longer does gets a release time now+grace
//     (kept if already set), and lapses at it;
//   - a host without a live claim goes to its oldest publisher that may
//     publish it (Grants.Allowed);
//   - a lapsed claim no one takes over is dropped.
//
// Next is pure; it does not modify prev.
func Next(prev Claims, pubs map[string][]Publisher, grants Grants, now time.Time, grace time.Duration) Claims {
	next := Claims{}
	for host, cl := range prev {
		if cl.Release != nil && !now.Before(*cl.Release) {
			continue // lapsed
		}
		if publishes(pubs[host], cl.Namespace) {
			cl.Release = nil
		} else if cl.Release == nil {
			r := now.Add(grace)
			cl.Release = &r
		}
		next[host] = cl
	}
	for host, ps := range pubs {
		if _, held := next[host]; held {
			continue
		}
		for _, p := range ps {
			if grants.Allowed(p.Namespace, host) {
				next[host] = Claim{Namespace: p.Namespace, Since: now}
				break
			}
		}
	}
	return next
}

func publishes(ps []Publisher, ns string) bool {
	for _, p := range ps {
		if p.Namespace == ns {
			return true
		}
	}
	return false
}

// Grant lets a namespace publish routes for host globs (*.example.com).
type Grant struct {
	Namespace string   `json:"namespace"`
	Hosts     []string `json:"hosts"`
}

// Grants are the administrator's grants (chart value interceptor.hostGrants).
type Grants []Grant

// Allowed reports whether namespace ns may publish a route for host: a
// glob only where a grant names it for ns; a host that some grant's glob
// covers only in a namespace granted a glob covering it (or the host
// itself); any other host anywhere.
func (g Grants) Allowed(ns, host string) bool {
	glob := strings.HasPrefix(host, "*.")
	covered := false
	for _, gr := range g {
		for _, h := range gr.Hosts {
			h = strings.ToLower(h)
			mine := gr.Namespace == ns
			if h == host {
				if mine {
					return true
				}
				covered = true
				continue
			}
			if !glob && strings.HasPrefix(h, "*.") && covers(h, host) {
				if mine {
					return true
				}
				covered = true
			}
		}
	}
	return !glob && !covered
}

// covers reports whether glob *.d matches host: one label before .d.
func covers(glob, host string) bool {
	ok, _ := path.Match(strings.ReplaceAll(glob, ".", "/"), strings.ReplaceAll(host, ".", "/"))
	return ok
}

// ParseGrant reads a grant written namespace=host[,host...] (the
// interceptor's --host-grant flag).
func ParseGrant(s string) (Grant, error) {
	ns, hosts, ok := strings.Cut(s, "=")
	if !ok || ns == "" || hosts == "" {
		return Grant{}, fmt.Errorf("%q: expected namespace=*.example.com[,host...]", s)
	}
	g := Grant{Namespace: ns}
	for h := range strings.SplitSeq(hosts, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || h == "*" {
			return Grant{}, fmt.Errorf("%q: expected host names or globs such as *.example.com, not %q", s, h)
		}
		g.Hosts = append(g.Hosts, h)
	}
	return g, nil
}

// HostOf returns the host a trigger of type typ with metadata md publishes
// a route for, as routes name it, or "" when it publishes none.
func HostOf(typ string, md map[string]string) string {
	if typ != ebbhttp.TypeName {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(md["host"]))
}
