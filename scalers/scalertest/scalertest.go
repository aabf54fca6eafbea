// SPDX-License-Identifier: Apache-2.0

// Package scalertest is the conformance suite every scaler Type passes.
//
// A scaler's tests describe a real source (and a place where none listens)
// in a Suite and call Run:
//
//	func TestConformance(t *testing.T) {
//		typ := rabbitmq.NewType()
//		scalertest.Run(t, scalertest.Suite{Type: typ, Valid: ..., Unreachable: ..., Open: typ.OpenConnections})
//	}
//
// Run checks that bad metadata is an error naming the key, that an
// unreachable source is an error (never a zero, never a panic) within a
// bounded time, that cancelled contexts are honoured, that concurrent reads
// are safe, that triggers on one source share one pooled connection, that
// Close releases it, that no secret appears in error text, that the
// operator's egress policy refuses a denied destination before any byte is
// sent, and that no byte a hostile server sends reaches an error.
package scalertest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// BadMetadata is a trigger the Type must reject, and the key its error names.
type BadMetadata struct {
	// Name says what is wrong, as a sentence: "a queue length that is not a number".
	Name    string
	Trigger scalers.Trigger
	Key     string
}

// Suite describes one scaler Type and its real source.
type Suite struct {
	Type scalers.Type
	// Valid is a trigger on a reachable, real source that reads without error.
	Valid scalers.Trigger
	// Unreachable is a trigger on an address where nothing listens.
	Unreachable scalers.Trigger
	// Bad lists metadata the Type must reject.
	Bad []BadMetadata
	// Secrets are credential values used by Valid and Unreachable; none may
	// appear in any error text.
	Secrets []string
	// Open reports how many pooled connections (or clients) the Type holds
	// open. Nil skips nothing: every Type must report it.
	Open func() int
	// ReadTimeout bounds a read of the unreachable source; 20 s by default.
	ReadTimeout time.Duration
	// WithEgress builds a new Type like Type under an egress policy, as the
	// operator does (NewTypeWithEgress).
	WithEgress func(*scalers.Egress) scalers.Type
	// At returns Valid aimed at addr (host:port) on Valid's protocol, with
	// its credentials: the suite aims it at denied and hostile servers.
	At func(addr string) scalers.Trigger
	// Hostile lists servers that speak the source's protocol with Marker in
	// all their text; the suite adds generic ones (genericHostile).
	Hostile []HostileReply
}

// Run runs the conformance suite.
func Run(t *testing.T, s Suite) {
	t.Helper()
	if s.Type == nil || s.Open == nil || s.WithEgress == nil || s.At == nil {
		t.Fatal("scalertest: Suite needs Type, Open, WithEgress and At")
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = 20 * time.Second
	}

	t.Run("its config struct's meta tags are well formed", func(t *testing.T) {
		if err := scalers.CheckTags(s.Type.Config()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("valid metadata validates and builds", func(t *testing.T) {
		if err := s.Type.Validate(s.Valid); err != nil {
			t.Fatalf("Validate(valid) = %v", err)
		}
		sc, err := s.Type.New(s.Valid)
		if err != nil {
			t.Fatalf("New(valid) = %v", err)
		}
		defer closeScaler(t, sc)
		m := sc.Metric()
		if m.Name == "" || !strings.HasPrefix(m.Name, "s") {
			t.Errorf("Metric().Name = %q, want a name from scalers.MetricName", m.Name)
		}
		if m.Target <= 0 {
			t.Errorf("Metric().Target = %v, want > 0", m.Target)
		}
	})

	for _, bad := range s.Bad {
		t.Run("rejects "+bad.Name, func(t *testing.T) {
			err := s.Type.Validate(bad.Trigger)
			if err == nil {
				t.Fatalf("Validate accepted %v", bad.Trigger.Metadata)
			}
			if !strings.Contains(err.Error(), `"`+bad.Key+`"`) {
				t.Errorf("error %q does not name key %q", err, bad.Key)
			}
			assertNoSecret(t, err, s.Secrets)
			if sc, err := s.Type.New(bad.Trigger); err == nil {
				_ = sc.Close()
				t.Errorf("New accepted what Validate rejected")
			}
		})
	}

	t.Run("rejects an unknown metadata key, naming it", func(t *testing.T) {
		tr := s.Valid
		tr.Metadata = copyMap(tr.Metadata)
		tr.Metadata["noSuchKey"] = "1"
		err := s.Type.Validate(tr)
		if err == nil || !strings.Contains(err.Error(), `"noSuchKey"`) {
			t.Fatalf("Validate = %v, want an error naming noSuchKey", err)
		}
	})

	t.Run("reads the real source", func(t *testing.T) {
		sc := mustNew(t, s.Type, s.Valid)
		defer closeScaler(t, sc)
		ctx, cancel := context.WithTimeout(context.Background(), s.ReadTimeout)
		defer cancel()
		if _, err := sc.Read(ctx); err != nil {
			t.Fatalf("Read = %v", err)
		}
	})

	t.Run("an unreachable source is an error, not a zero", func(t *testing.T) {
		sc := mustNew(t, s.Type, s.Unreachable)
		defer closeScaler(t, sc)
		ctx, cancel := context.WithTimeout(context.Background(), s.ReadTimeout)
		defer cancel()
		r, err := readWithin(ctx, sc, s.ReadTimeout+10*time.Second)
		if err == nil {
			t.Fatalf("Read = %+v with no error", r)
		}
		if r != (scalers.Reading{}) {
			t.Errorf("Read returned a reading %+v along with its error", r)
		}
		assertNoSecret(t, err, s.Secrets)
	})

	t.Run("a cancelled context is honoured", func(t *testing.T) {
		sc := mustNew(t, s.Type, s.Unreachable)
		defer closeScaler(t, sc)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := readWithin(ctx, sc, 10*time.Second); err == nil {
			t.Fatal("Read with a cancelled context returned no error")
		}
		ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := readWithin(ctx, sc, 15*time.Second); err == nil {
			t.Fatal("Read past its deadline returned no error")
		}
	})

	checkEgress(t, s)
	checkHostile(t, s)

	t.Run("concurrent reads are safe and share one connection", func(t *testing.T) {
		before := s.Open()
		var scs []scalers.Scaler
		for i := 0; i < 3; i++ {
			scs = append(scs, mustNew(t, s.Type, s.Valid))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 24)
		for i := 0; i < 24; i++ {
			wg.Add(1)
			go func(sc scalers.Scaler) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), s.ReadTimeout)
				defer cancel()
				if _, err := sc.Read(ctx); err != nil {
					errs <- err
				}
			}(scs[i%len(scs)])
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent Read: %v", err)
		}
		if got := s.Open() - before; got != 1 {
			t.Errorf("three triggers on one source opened %d connections, want 1", got)
		}
		for _, sc := range scs {
			closeScaler(t, sc)
		}
		if got := s.Open(); got != before {
			t.Errorf("after Close, %d connections are open, want %d", got, before)
		}
	})
}

func readWithin(ctx context.Context, sc scalers.Scaler, bound time.Duration) (scalers.Reading, error) {
	type result struct {
		r   scalers.Reading
		err error
	}
	ch := make(chan result, 1)
	go func() {
		r, err := sc.Read(ctx)
		ch <- result{r, err}
	}()
	select {
	case res := <-ch:
		return res.r, res.err
	case <-time.After(bound):
		return scalers.Reading{}, errHung
	}
}

var errHung = errors.New("scalertest: Read did not return within its bound (it ignores its context)")

func mustNew(t *testing.T, typ scalers.Type, tr scalers.Trigger) scalers.Scaler {
	t.Helper()
	sc, err := typ.New(tr)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	return sc
}

func closeScaler(t *testing.T, sc scalers.Scaler) {
	t.Helper()
	if err := sc.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}

func assertNoSecret(t *testing.T, err error, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error text contains a secret: %q", scalers.RedactString(err.Error(), secrets...))
		}
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
