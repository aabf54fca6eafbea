// SPDX-License-Identifier: Apache-2.0

package http

import (
	"context"
	"errors"
	"fmt"
	"net"
	nethttp "net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// TypeName is the trigger type, as written in spec.triggers[].type.
const TypeName = "http"

// bootstrapSpan is how far apart the first Read of a Scaler takes its two
// scrapes.
const bootstrapSpan = time.Second

// Type is the http trigger type. It owns the HTTP clients its scalers share
// (one per endpoint and credentials) and merges identical scrapes in flight.
// It is safe for concurrent use.
type Type struct {
	clients *scalers.Pool[clientKey, *nethttp.Client]
	scrapes scalers.Coalescer[*page]
	// probes merges the activation probes of interceptor-mode triggers
	// that read the same interceptor with the same token and window.
	probes scalers.Coalescer[[]replicaRoutes]
	// resolver finds the interceptor replicas behind an interceptorURL's
	// host (replicas.go).
	resolver *resolver
	// reresolve is how often an activation watcher looks its host up again.
	reresolve time.Duration
	// watchers long-poll interceptors for activations, one per interceptor
	// and token, shared by the triggers on it (notify.go).
	watchMu  sync.Mutex
	watchers map[watchKey]*watcher
	// retryMin is the first wait after a failed long poll.
	retryMin time.Duration
	now      func() time.Time
	// bootstrap is bootstrapSpan; tests may shorten it.
	bootstrap time.Duration
}

var _ scalers.Type = (*Type)(nil)

// NewType returns the http trigger type under the default egress policy
// (tests).
func NewType() *Type { return NewTypeWithEgress(scalers.DefaultEgress()) }

// NewTypeWithEgress returns the http trigger type, whose clients connect
// only where egress allows.
func NewTypeWithEgress(egress *scalers.Egress) *Type {
	return &Type{
		clients: scalers.NewPool(
			func(_ context.Context, key clientKey) (*nethttp.Client, error) { return newClient(egress, key), nil },
			func(c *nethttp.Client) { c.CloseIdleConnections() },
		),
		now:       time.Now,
		bootstrap: bootstrapSpan,
		retryMin:  minRetry,
		resolver:  newResolver(net.DefaultResolver.LookupHost),
		reresolve: resolveTTL,
	}
}

// Name is "http".
func (t *Type) Name() string { return TypeName }

// Config returns a zero *Config.
func (t *Type) Config() any { return &Config{} }

// Validate checks a trigger's metadata without I/O.
func (t *Type) Validate(tr scalers.Trigger) error {
	_, err := parse(tr)
	return err
}

// OpenConnections is the number of pooled HTTP clients in use: one per
// (endpoint, credentials) that has been read.
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
	u, _ := url.Parse(s.url)
	key := clientKey{origin: u.Scheme + "://" + u.Host, bearerToken: s.cfg.BearerToken}
	if s.mode == modeInterceptor && u.Scheme == "https" && net.ParseIP(u.Hostname()) == nil {
		// Reads of several replicas go to their addresses: verify the
		// certificate against the URL's name.
		key.serverName = u.Hostname()
	}
	detail := s.cfg.CounterName
	for _, m := range s.matchers {
		detail += "-" + m.value
	}
	if s.mode == modeInterceptor {
		detail = "route-" + s.cfg.Route
	}
	sc := &scaler{
		typ:     t,
		trigger: tr.String(),
		set:     s,
		metric: scalers.MetricSpec{
			Name:             scalers.MetricName(tr, shorten(detail, 64)),
			Target:           s.target,
			ActivationTarget: s.activation,
			Type:             tr.MetricTypeOrDefault(),
		},
		key: key,
		// A scrape keeps one metric family of the page: triggers on the
		// same endpoint and family share it.
		scrapeKey: scrapeKey(s.url+"\x00"+s.cfg.CounterName, key),
		lease:     t.clients.Acquire(key),
		hist:      newHistory(s.cfg.Window),
	}
	if s.mode == modeInterceptor {
		return &probingScaler{sc}, nil
	}
	return sc, nil
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// scaler reads one http trigger.
type scaler struct {
	typ       *Type
	trigger   string
	set       settings
	metric    scalers.MetricSpec
	key       clientKey
	scrapeKey string
	lease     *scalers.Lease[clientKey, *nethttp.Client]

	mu   sync.Mutex
	hist *history
}

var _ scalers.Scaler = (*scaler)(nil)

func (s *scaler) Metric() scalers.MetricSpec { return s.metric }

// Read scrapes the endpoint and returns the rate (or the requests in
// flight). The first Read of a rate trigger scrapes twice, the Type's
// bootstrap span apart.
func (s *scaler) Read(ctx context.Context) (scalers.Reading, error) {
	if s.set.mode == modeInterceptor {
		return s.readInterceptor(ctx)
	}
	v, err := s.read(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (the trigger's timeout is %s)", err, s.set.cfg.Timeout)
		}
		return scalers.Reading{}, scalers.Redact(fmt.Errorf("%s: %s: %w", s.trigger, s.set.shown, err), s.set.cfg.BearerToken)
	}
	return scalers.Reading{Value: v, Active: scalers.IsActive(v, s.set.activation)}, nil
}

func (s *scaler) read(ctx context.Context) (float64, error) {
	values, at, err := s.scrape(ctx)
	if err != nil {
		return 0, err
	}
	if s.set.kind == kindConcurrency {
		var sum float64
		for _, v := range values {
			sum += v
		}
		return sum, nil
	}
	s.mu.Lock()
	_ = s.hist.add(at, values) // a scrape older than the newest point adds nothing
	wait := time.Duration(0)
	if s.hist.span() < s.typ.bootstrap {
		wait = s.hist.points[0].t.Add(s.typ.bootstrap).Sub(at)
	}
	s.mu.Unlock()

	if wait > 0 {
		// No history yet: take a second scrape a bootstrap span after the
		// first.
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return 0, fmt.Errorf("the first read of a rate takes two scrapes %s apart: %w", s.typ.bootstrap, ctx.Err())
		}
		values, at, err = s.scrape(ctx)
		if err != nil {
			return 0, err
		}
		s.mu.Lock()
		_ = s.hist.add(at, values)
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, _, ok := s.hist.rate()
	if !ok {
		return 0, errors.New("not enough scrapes yet to compute a rate")
	}
	return r, nil
}

// scrape reads the page (joining a scrape of the same URL in flight) and
// selects the trigger's series.
func (s *scaler) scrape(ctx context.Context) (map[series]float64, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.set.cfg.Timeout)
	defer cancel()
	p, err := s.typ.scrapes.Do(ctx, s.scrapeKey, func(ctx context.Context) (*page, error) {
		client, err := s.lease.Get(ctx)
		if err != nil {
			return nil, err
		}
		p, err := scrape(ctx, client, s.set.url, s.set.cfg.BearerToken, s.set.cfg.CounterName, s.typ.now)
		var te *transportError
		if errors.As(err, &te) && ctx.Err() == nil {
			// Start from fresh connections next time.
			client.CloseIdleConnections()
		}
		return p, err
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	values, err := selectSeries(p, s.set.cfg.CounterName, s.set.matchers)
	switch {
	case errors.Is(err, errNoFamily) || errors.Is(err, errNoSeries):
		if s.set.cfg.IgnoreNullValues {
			return map[series]float64{}, p.at, nil
		}
		return nil, time.Time{}, fmt.Errorf("metric %s%s %w. Ebb reads this as an error, not as 0; "+
			"if no series truly means no traffic here (a labelled counter appears only after its first increment), set ignoreNullValues: \"true\"",
			s.set.cfg.CounterName, s.labelsText(), err)
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("metric %s %w", s.set.cfg.CounterName, err)
	}
	return values, p.at, nil
}

func (s *scaler) labelsText() string {
	if len(s.set.matchers) == 0 {
		return ""
	}
	parts := make([]string, 0, len(s.set.matchers))
	for _, m := range s.set.matchers {
		op := "="
		if m.not {
			op = "!="
		}
		parts = append(parts, fmt.Sprintf("%s%s%q", m.name, op, m.value))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Close gives back the scaler's share of the pooled client.
func (s *scaler) Close() error {
	s.lease.Release()
	return nil
}
