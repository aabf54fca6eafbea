// SPDX-License-Identifier: Apache-2.0

package scalertest

import (
	"context"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// NewScaler builds tr's Scaler with typ, failing the test on an error, and
// closes it when the test ends.
func NewScaler(t testing.TB, typ scalers.Type, tr scalers.Trigger) scalers.Scaler {
	t.Helper()
	sc, err := typ.New(tr)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	return sc
}

// Read reads sc once, giving up after 15 s.
func Read(sc scalers.Scaler) (scalers.Reading, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return sc.Read(ctx)
}

// MustRead reads sc once (Read) and fails the test on an error.
func MustRead(t testing.TB, sc scalers.Scaler) scalers.Reading {
	t.Helper()
	r, err := Read(sc)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return r
}

// With returns a copy of metadata m with the key/value pairs kv set; an
// empty value deletes the key.
func With(m map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}
