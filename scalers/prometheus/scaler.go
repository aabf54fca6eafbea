// SPDX-License-Identifier: Apache-2.0

package prometheus

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/ebbscale/ebb/scalers"
)

// TypeName is the trigger type, as written in spec.triggers[].type.
const TypeName = "prometheus"

// Type is the prometheus trigger type. It owns the HTTP clients its scalers
// share (one per server, credentials and TLS settings) and merges identical
// queries in flight. It is safe for concurrent use.
type Type struct {
	clients *scalers.Pool[clientKey, *http.Client]
	queries scalers.Coalescer[result]
}

var _ scalers.Type = (*Type)(nil)

// NewType returns the prometheus trigger type under the default egress
// policy (tests).
func NewType() *Type { return NewTypeWithEgress(scalers.DefaultEgress()) }

// NewTypeWithEgress returns the prometheus trigger type, whose clients
// connect only where egress allows.
func NewTypeWithEgress(egress *scalers.Egress) *Type {
	return &Type{
		clients: scalers.NewPool(
			func(_ context.Context, key clientKey) (*http.Client, error) { return newClient(egress, key), nil },
			func(c *http.Client) { c.CloseIdleConnections() },
		),
	}
}

// Name is "prometheus".
func (t *Type) Name() string { return TypeName }

// Config returns a zero *Config.
func (t *Type) Config() any { return &Config{} }

// Validate checks a trigger's metadata without I/O.
func (t *Type) Validate(tr scalers.Trigger) error {
	_, err := parse(tr)
	return err
}

// OpenConnections is the number of pooled HTTP clients in use: one per
// (serverAddress, credentials, TLS settings) that has been read.
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
	key := clientKey{
		server:      s.server,
		authMode:    s.authMode,
		username:    s.cfg.Username,
		password:    s.cfg.Password,
		bearerToken: s.cfg.BearerToken,
		unsafeSSL:   s.cfg.UnsafeSSL,
	}
	lease := t.clients.Acquire(key)
	return &scaler{
		typ:     t,
		trigger: tr.String(),
		set:     s,
		metric: scalers.MetricSpec{
			Name:             scalers.MetricName(tr, shorten(s.cfg.Query, 48)),
			Target:           s.cfg.Threshold,
			ActivationTarget: s.cfg.ActivationThreshold,
			Type:             tr.MetricTypeOrDefault(),
		},
		q: &httpQuerier{
			lease:    lease,
			endpoint: s.endpoint,
			params:   s.params,
			header:   s.header,
			authMode: s.authMode,
			username: s.cfg.Username,
			password: s.cfg.Password,
			token:    s.cfg.BearerToken,
		},
		lease:       lease,
		coalesceKey: coalesceKey(key, s),
	}, nil
}

// scaler reads one prometheus trigger.
type scaler struct {
	typ         *Type
	trigger     string
	set         settings
	metric      scalers.MetricSpec
	q           querier
	lease       *scalers.Lease[clientKey, *http.Client]
	coalesceKey string
}

var _ scalers.Scaler = (*scaler)(nil)

func (s *scaler) Metric() scalers.MetricSpec { return s.metric }

// Read runs the query, bounded by the trigger's timeout and ctx. Triggers
// with the same server, credentials, query, namespace, parameters and
// headers share one query in flight.
func (s *scaler) Read(ctx context.Context) (scalers.Reading, error) {
	rctx, cancel := context.WithTimeout(ctx, s.set.timeout)
	defer cancel()
	query := s.set.cfg.Query
	res, err := s.typ.queries.Do(rctx, s.coalesceKey, func(ctx context.Context) (result, error) {
		return s.q.Query(ctx, query)
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (the trigger's timeout is %s)", err, s.set.timeout)
		}
		return scalers.Reading{}, s.fail(err)
	}
	v := res.Value
	if res.Empty {
		if !s.set.cfg.IgnoreNullValues {
			return scalers.Reading{}, s.fail(errNoSeries)
		}
		v = 0
	}
	return scalers.Reading{Value: v, Active: scalers.IsActive(v, s.set.cfg.ActivationThreshold)}, nil
}

// errNoSeries is the error for an empty result with ignoreNullValues false.
var errNoSeries = errors.New(`the query returned no series. Ebb reads this as an error, not as 0, ` +
	`so that a lost scrape target or a broken query cannot scale the workload down; ` +
	`if "no series" truly means 0 here, set ignoreNullValues: "true" (or add "or vector(0)" to the query)`)

func (s *scaler) fail(err error) error {
	return scalers.Redact(fmt.Errorf("%s: prometheus at %s: %w", s.trigger, s.set.server, err), s.set.secrets()...)
}

// Close gives back the scaler's share of the pooled client.
func (s *scaler) Close() error {
	s.lease.Release()
	return nil
}

// coalesceKey identifies a query in flight: the client (server, credentials,
// TLS), the endpoint, the parameters (namespace and queryParameters), the
// headers and the query. It is a digest, so it holds no credential.
func coalesceKey(key clientKey, s settings) string {
	h := sha256.New()
	put := func(v string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write([]byte(v))
	}
	put(key.server)
	put(key.authMode)
	put(key.username)
	put(key.password)
	put(key.bearerToken)
	put(fmt.Sprint(key.unsafeSSL))
	put(s.endpoint)
	put(s.params.Encode()) // sorted by key
	names := make([]string, 0, len(s.header))
	for k := range s.header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		put(k)
		put(fmt.Sprint(len(s.header[k])))
		for _, v := range s.header[k] {
			put(v)
		}
	}
	put("")
	put(s.cfg.Query)
	return hex.EncodeToString(h.Sum(nil))
}
