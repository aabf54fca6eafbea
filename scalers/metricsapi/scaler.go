// SPDX-License-Identifier: Apache-2.0

package metricsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// TypeName is the trigger type, as written in spec.triggers[].type.
const TypeName = "metrics-api"

// reuseWithin is how long an answer serves the other triggers on the same
// URL and credentials: the triggers of one ScaledObject are read together at
// each poll, and those that start their read just after the request ended
// take its answer instead of asking again. It is shorter than any polling
// interval.
const reuseWithin = time.Second

// Type is the metrics-api trigger type. It owns the HTTP clients its
// scalers share (one per TLS identity), merges the GETs of one URL with
// the same credentials in flight, and keeps each answer for reuseWithin.
// It is safe for concurrent use.
type Type struct {
	clients *scalers.Pool[clientKey, *http.Client]
	gets    scalers.Coalescer[[]byte]
	now     func() time.Time
	reuse   time.Duration

	mu     sync.Mutex
	recent map[string]answer // by getKey; answers younger than reuse
}

// answer is a body and when it was read. The body is shared and never
// modified.
type answer struct {
	body []byte
	at   time.Time
}

var _ scalers.Type = (*Type)(nil)

// NewType returns the metrics-api trigger type under the default egress
// policy (tests).
func NewType() *Type { return NewTypeWithEgress(scalers.DefaultEgress()) }

// NewTypeWithEgress returns the metrics-api trigger type, whose clients
// connect only where egress allows.
func NewTypeWithEgress(egress *scalers.Egress) *Type {
	return &Type{
		clients: scalers.NewPool(
			func(_ context.Context, key clientKey) (*http.Client, error) { return newClient(egress, key) },
			func(c *http.Client) { c.CloseIdleConnections() },
		),
		now:    time.Now,
		reuse:  reuseWithin,
		recent: map[string]answer{},
	}
}

// Name is "metrics-api".
func (t *Type) Name() string { return TypeName }

// Config returns a zero *Config.
func (t *Type) Config() any { return &Config{} }

// Validate checks a trigger's metadata without I/O.
func (t *Type) Validate(tr scalers.Trigger) error {
	_, err := parse(tr)
	return err
}

// OpenConnections is the number of pooled HTTP clients in use: one per TLS
// identity (ca, cert, key, unsafeSsl) that has been read with.
func (t *Type) OpenConnections() int {
	_, open := t.clients.Stats()
	return open
}

// New builds the trigger's Scaler. It does no I/O.
func (t *Type) New(tr scalers.Trigger) (scalers.Scaler, error) {
	s, err := parse(tr)
	if err != nil {
		return nil, err
	}
	r := request{
		url:      s.url,
		accept:   accepts[s.format],
		modes:    s.modes,
		method:   s.cfg.Method,
		keyParam: s.keyParam,
		apiKey:   s.cfg.APIKey,
		username: s.cfg.Username,
		password: s.cfg.Password,
		token:    s.cfg.Token,
	}
	key := keyOf(s.cfg)
	return &scaler{
		typ:     t,
		trigger: tr.String(),
		set:     s,
		req:     r,
		lease:   t.clients.Acquire(key),
		getKey:  getKey(key, r),
		metric: scalers.MetricSpec{
			Name:             scalers.MetricName(tr, s.cfg.ValueLocation),
			Target:           s.cfg.TargetValue,
			ActivationTarget: s.cfg.ActivationTargetValue,
			Type:             tr.MetricTypeOrDefault(),
		},
	}, nil
}

// scaler reads one metrics-api trigger.
type scaler struct {
	typ     *Type
	trigger string
	set     settings
	req     request
	lease   *scalers.Lease[clientKey, *http.Client]
	getKey  string
	metric  scalers.MetricSpec
	closed  atomic.Bool
}

var _ scalers.Scaler = (*scaler)(nil)

func (s *scaler) Metric() scalers.MetricSpec { return s.metric }

// Read GETs the URL (or takes the answer another trigger on the same URL
// and credentials got just now) and extracts the trigger's valueLocation.
func (s *scaler) Read(ctx context.Context) (scalers.Reading, error) {
	if s.closed.Load() {
		// Not even an answer another trigger got: a closed Scaler reads
		// nothing.
		return scalers.Reading{}, s.fail(scalers.ErrLeaseReleased)
	}
	rctx, cancel := context.WithTimeout(ctx, s.set.timeout)
	defer cancel()
	body, err := s.typ.fetch(rctx, s.getKey, func(ctx context.Context) ([]byte, error) {
		client, err := s.lease.Get(ctx)
		if err != nil {
			return nil, err
		}
		body, err := get(ctx, client, s.req)
		var te *transportError
		if errors.As(err, &te) && ctx.Err() == nil {
			// The connections may be broken: the next read starts afresh.
			ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), invalidateWithin)
			defer cancel()
			s.lease.Invalidate(ictx, client, func(a, b *http.Client) bool { return a == b })
		}
		return body, err
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (the trigger's timeout is %s)", err, s.set.timeout)
		}
		return scalers.Reading{}, s.fail(err)
	}
	v, err := scalers.GuardRead(func() (float64, error) { return extract(s.set.path, body) })
	if err != nil {
		return scalers.Reading{}, s.fail(fmt.Errorf("%s answer, valueLocation %q: %w", s.set.format, s.set.cfg.ValueLocation, err))
	}
	return scalers.Reading{Value: v, Active: scalers.IsActive(v, s.set.cfg.ActivationTargetValue)}, nil
}

func (s *scaler) fail(err error) error {
	return scalers.Redact(fmt.Errorf("%s: metrics API at %s: %w", s.trigger, s.set.shown, err), s.set.secrets()...)
}

// Close gives back the scaler's share of the pooled client.
func (s *scaler) Close() error {
	s.closed.Store(true)
	s.lease.Release()
	return nil
}

// fetch returns an answer for key younger than t.reuse, or runs get (merged
// with the gets of key in flight) and keeps its answer.
func (t *Type) fetch(ctx context.Context, key string, get func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	now := t.now()
	t.mu.Lock()
	a, ok := t.recent[key]
	t.mu.Unlock()
	if ok && now.Sub(a.at) < t.reuse {
		return a.body, nil
	}
	return t.gets.Do(ctx, key, func(ctx context.Context) ([]byte, error) {
		body, err := get(ctx)
		if err != nil {
			return nil, err
		}
		at := t.now()
		t.mu.Lock()
		defer t.mu.Unlock()
		for k, old := range t.recent {
			if at.Sub(old.at) >= t.reuse {
				delete(t.recent, k)
			}
		}
		t.recent[key] = answer{body: body, at: at}
		return body, nil
	})
}

// getKey identifies a GET: the URL (with an apiKey query parameter), the
// Accept header, the credentials and the TLS identity. It is a digest, so
// it holds no credential.
func getKey(key clientKey, r request) string {
	modes := make([]string, 0, len(r.modes))
	for m := range r.modes {
		modes = append(modes, m)
	}
	sort.Strings(modes)
	fields := []string{r.url, r.accept, r.method, r.keyParam, r.apiKey, r.username, r.password, r.token,
		key.ca, key.cert, key.key, key.keyPassword, strconv.FormatBool(key.unsafeSSL), strconv.Itoa(len(modes))}
	return scalers.CoalesceKey(append(fields, modes...)...)
}
