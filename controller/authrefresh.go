// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// Credential rotation. A trigger's credentials (what its
// TriggerAuthentication or ClusterTriggerAuthentication, their Secrets and
// ConfigMaps, and the target's environment resolve to) can change while
// the ScaledObject or ScaledJob that uses them does not. The reconcilers
// notice, with no Secret watch (Secrets are read with GETs only):
//
//   - a TriggerAuthentication or ClusterTriggerAuthentication that changes
//     (watched: those two kinds only) reconciles the objects that name it;
//   - every object that uses credentials is reconciled again every
//     refreshAfter (0.6-0.8 × its polling interval clamped to 5 s-1 min),
//     which resolves them again with GETs;
//   - a trigger whose last read failed has the loop ask for the same check
//     (recheckGap apart at most) before its next read.
//
// The scalers are rebuilt only when the digest of what the credentials
// resolve to changed: an unchanged Secret costs its GETs and nothing else.
// When a reference no longer resolves (a Secret deleted), the last built
// scalers are kept, and the triggers whose references fail read as failing
// with an error that names the object and key (never a value): unknown,
// never zero, and an Event says so.
//
// A ClusterTriggerAuthentication that no longer allows the object's
// namespace (revoked) is different: the object's scalers, which hold its
// credentials, are closed at once (on the leader and on every other
// replica), the object is Ready=False with the error, which names the
// ClusterTriggerAuthentication, and an Event says so. A changed
// allowedEndpoints changes the digest (the pin is part of it), so the
// scalers are rebuilt, and a trigger whose endpoint the pin no longer allows
// fails its build the same way.

// authDigest is a keyed hash of what an object's triggers resolved to.
type authDigest [sha256.Size]byte

// authKeyer digests resolved credentials with HMAC-SHA256 under a random
// key made at start: a digest says whether credentials changed and nothing
// else (without the key it cannot be checked against guessed values). It is
// kept in memory only and never logged.
type authKeyer struct{ key []byte }

func newAuthKeyer() authKeyer {
	k := make([]byte, 32)
	_, _ = cryptorand.Read(k) // crypto/rand.Read never fails
	return authKeyer{key: k}
}

// digest hashes every trigger's auth parameters, environment and endpoint
// pin in a canonical order. nil (an object that uses no credentials)
// digests too.
func (k authKeyer) digest(res []scalers.Resolved) authDigest {
	h := hmac.New(sha256.New, k.key)
	for _, r := range res {
		writeMap(h, r.AuthParams)
		writeMap(h, r.Env)
		writePin(h, r.Pin)
	}
	var d authDigest
	h.Sum(d[:0])
	return d
}

func writeMap(h hash.Hash, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	writeLen(h, len(keys)) // so that one map does not run into the next
	for _, k := range keys {
		writeString(h, k)
		writeString(h, m[k])
	}
}

func writePin(h hash.Hash, p *scalers.EndpointPin) {
	if p == nil {
		writeLen(h, 0)
		return
	}
	writeLen(h, 1)
	writeString(h, p.Owner)
	writeLen(h, len(p.Allowed))
	for _, a := range p.Allowed {
		writeString(h, a)
	}
	trusted := map[string]string{}
	for k, ok := range p.Trusted {
		if ok {
			trusted[k] = ""
		}
	}
	writeMap(h, trusted)
}

func writeString(h hash.Hash, s string) {
	writeLen(h, len(s))
	h.Write([]byte(s))
}

func writeLen(h hash.Hash, n int) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
}

// usesCredentials says whether any trigger resolves something outside its
// metadata: a TriggerAuthentication (or cluster one) or `...FromEnv` keys.
// Only such objects are resolved again.
func usesCredentials(triggers []v1alpha1.Trigger) bool {
	for _, t := range triggers {
		if t.AuthenticationRef != nil {
			return true
		}
		for k := range t.Metadata {
			if len(k) > len("FromEnv") && strings.HasSuffix(k, "FromEnv") {
				return true
			}
		}
	}
	return false
}

// authRefKeys are the index values of the TriggerAuthentications and
// ClusterTriggerAuthentications triggers name: "TriggerAuthentication/<name>"
// or "ClusterTriggerAuthentication/<name>".
func authRefKeys(triggers []v1alpha1.Trigger) []string {
	var out []string
	for _, t := range triggers {
		if ref := t.AuthenticationRef; ref != nil {
			kind := ref.Kind
			if kind == "" {
				kind = "TriggerAuthentication"
			}
			if k := kind + "/" + ref.Name; !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// Index of ScaledObjects and ScaledJobs by the authentications they name.
const indexAuthRef = "ebb.spec.triggers.authenticationRef"

// authRefSelector lists the objects that name a TriggerAuthentication (in
// its namespace) or a ClusterTriggerAuthentication (in every namespace).
func authRefSelector(o client.Object) []client.ListOption {
	if _, ok := o.(*v1alpha1.TriggerAuthentication); ok {
		return []client.ListOption{client.InNamespace(o.GetNamespace()), client.MatchingFields{indexAuthRef: "TriggerAuthentication/" + o.GetName()}}
	}
	return []client.ListOption{client.MatchingFields{indexAuthRef: "ClusterTriggerAuthentication/" + o.GetName()}}
}

// refreshBase is the polling interval clamped to 5 s-1 min.
func refreshBase(polling time.Duration) time.Duration {
	return min(max(polling, 5*time.Second), time.Minute)
}

// refreshAfter is when an object's credentials are resolved again: a random
// 0.6-0.8 of refreshBase, so objects created together spread their GETs and
// a rotation is seen within one polling interval (one minute at most).
func refreshAfter(polling time.Duration) time.Duration {
	b := refreshBase(polling)
	return time.Duration((0.6 + 0.2*rand.Float64()) * float64(b))
}

// recheckGap is how soon after the last resolution a failing read asks for
// another: at most two an interval for an object whose reads keep failing
// (at zero replicas it is probed every second).
func recheckGap(polling time.Duration) time.Duration {
	return refreshBase(polling) / 2
}

// resolveAll resolves every trigger of an object. errs[i] is trigger i's
// error; err is the first of them.
func resolveAll(ctx context.Context, n int, resolve func(context.Context, int) (scalers.Resolved, error)) (res []scalers.Resolved, errs []error, err error) {
	res = make([]scalers.Resolved, n)
	errs = make([]error, n)
	for i := range n {
		res[i], errs[i] = resolve(ctx, i)
	}
	return res, errs, firstError(errs)
}

// revoked says whether one of errs says that a ClusterTriggerAuthentication
// does not allow the object's namespace: the object's scalers must then go,
// not be kept for when the credentials resolve again.
func revoked(errs []error) bool {
	return slices.ContainsFunc(errs, scalers.IsClusterAuthNotAllowed)
}

// firstError is the first non-nil error, for messages.
func firstError(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
