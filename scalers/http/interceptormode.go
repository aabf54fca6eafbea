// SPDX-License-Identifier: Apache-2.0

package http

import (
	"context"
	"errors"
	"fmt"
	nethttp "net/http"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

// statsLimits bound the interceptor's GET /v1/routes answer: about 250
// bytes and 19 JSON values per route (a probe asks for every route), so
// 4 MiB and 200,000 values hold some 10,000 routes. Decoded, 200,000 values
// are at most about 40 MB of Go values (100-byte route records), whatever
// the bytes. docs/security.md lists the bounds.
var statsLimits = scalers.JSONLimits{Bytes: 4 << 20, Values: 200_000, Depth: 8}

// activationsLimits bound a GET /v1/activations answer: the names of the
// routes that signalled.
var activationsLimits = scalers.JSONLimits{Bytes: 1 << 20, Values: 20_000, Depth: 4}

// readInterceptor reads the route's counters from the interceptor's admin
// endpoint. The value is the route's request rate over window (the
// interceptor's own window caps it) or, with targetConcurrency, its requests
// in flight plus the ones held. Held requests make the trigger active
// whatever the activation threshold: someone is waiting for a replica.
//
// When the interceptorURL's host resolves to several addresses (the chart's
// headless admin Service: one per ready interceptor pod), every interceptor
// is read and the figures are summed (replicas.go).
func (s *scaler) readInterceptor(ctx context.Context) (scalers.Reading, error) {
	if err := s.typ.watcherPanic(s.set.base, s.key); err != nil {
		return s.interceptorReading(ctx, interceptor.RouteStats{}, err)
	}
	var st interceptor.RouteStats
	reps, err := s.fetchAll(ctx, s.set.url)
	if err == nil {
		st, err = s.pickAll(reps)
	}
	return s.interceptorReading(ctx, st, err)
}

// probingScaler is an interceptor-mode scaler. It is a scalers.Prober:
// while its target rests at zero the scale loop probes it every second, so
// a request held by the interceptor activates the target within about a
// second instead of a polling interval. It is a scalers.Notifier too
// (notify.go): the interceptor signals the first held request at once, and
// the probe follows without waiting for the second.
type probingScaler struct{ *scaler }

var _ scalers.Prober = (*probingScaler)(nil)

// Probe reads the same figures as Read, from one GET of every route's
// counters (per interceptor replica) that the probes of all triggers on the
// same interceptor (same token and window) arriving together share.
func (s *probingScaler) Probe(ctx context.Context) (scalers.Reading, error) {
	if err := s.typ.watcherPanic(s.set.base, s.key); err != nil {
		return s.interceptorReading(ctx, interceptor.RouteStats{}, err)
	}
	reps, err := s.typ.probes.Do(ctx, scrapeKey(s.set.probeURL, s.key), func(ctx context.Context) ([]replicaRoutes, error) {
		return s.fetchAll(ctx, s.set.probeURL)
	})
	if err != nil {
		return s.interceptorReading(ctx, interceptor.RouteStats{}, err)
	}
	st, err := s.pickAll(reps)
	return s.interceptorReading(ctx, st, err)
}

// interceptorReading turns a route's counters into the trigger's Reading,
// or explains the error.
func (s *scaler) interceptorReading(ctx context.Context, st interceptor.RouteStats, err error) (scalers.Reading, error) {
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (the trigger's timeout is %s)", err, s.set.cfg.Timeout)
		}
		return scalers.Reading{}, scalers.Redact(fmt.Errorf("%s: %s: %w", s.trigger, s.set.shown, err), s.set.cfg.BearerToken)
	}
	v := st.RequestRate
	if s.set.kind == kindConcurrency {
		v = float64(st.InFlight + st.Held)
	}
	return scalers.Reading{Value: v, Active: scalers.IsActive(v, s.set.activation) || st.Held > 0}, nil
}

// fetchRoutes GETs the routes' counters from one interceptor, at r.url (a
// /v1/routes URL). The caller bounds ctx with the trigger's timeout.
func (s *scaler) fetchRoutes(ctx context.Context, r replica) ([]interceptor.RouteStats, error) {
	client, err := s.lease.Get(ctx)
	if err != nil {
		return nil, err
	}
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("build the request: %w", err)
	}
	if r.host != "" {
		req.Host = r.host
		// The egress policy checks the name the replica was looked up for.
		req = req.WithContext(scalers.WithEgressName(req.Context(), hostName(r.host)))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "ebb-http-scaler")
	req.Header.Set("Authorization", "Bearer "+s.set.cfg.BearerToken)
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			client.CloseIdleConnections()
		}
		return nil, scalers.StripURL(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == nethttp.StatusUnauthorized:
		return nil, errors.New("the interceptor refused the bearerToken (401): check the TriggerAuthentication against the interceptor's --token-file")
	case resp.StatusCode != nethttp.StatusOK:
		return nil, fmt.Errorf("the interceptor answered HTTP %d %s", resp.StatusCode, nethttp.StatusText(resp.StatusCode))
	}
	var sr interceptor.StatsResponse
	if err := scalers.ReadJSON(resp.Body, statsLimits, &sr); err != nil {
		return nil, fmt.Errorf("read the interceptor's answer: %w", err)
	}
	return sr.Routes, nil
}

// pickRoute finds the trigger's route among the interceptor's.
func (s *scaler) pickRoute(routes []interceptor.RouteStats) (interceptor.RouteStats, error) {
	for _, r := range routes {
		if r.Name == s.set.cfg.Route {
			return r, nil
		}
	}
	if s.set.route != nil {
		return interceptor.RouteStats{}, fmt.Errorf("the interceptor has no route %q, which this trigger's host publishes: expected an interceptor that reads its routes from the cluster (see its log for a route that claimed the same host and pathPrefix first)", s.set.cfg.Route)
	}
	return interceptor.RouteStats{}, fmt.Errorf("the interceptor has no route %q; expected the name of one in its --routes file", s.set.cfg.Route)
}
