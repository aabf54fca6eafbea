package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

// maxStatsBody bounds the interceptor's answer: a few hundred bytes per
// route.
const maxStatsBody = 4 << 20

// readInterceptor reads the route's counters from the interceptor's admin
// endpoint. The value is the route's request rate over window (the
// interceptor's own window caps it) or, with targetConcurrency, its requests
// in flight plus the ones held. Held requests make the trigger active
// whatever the activation threshold: someone is waiting for a replica.
func (s *scaler) readInterceptor(ctx context.Context) (scalers.Reading, error) {
	st, err := s.fetchRoute(ctx)
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

func (s *scaler) fetchRoute(ctx context.Context) (interceptor.RouteStats, error) {
	ctx, cancel := context.WithTimeout(ctx, s.set.cfg.Timeout)
	defer cancel()
	client, err := s.lease.Get(ctx)
	if err != nil {
		return interceptor.RouteStats{}, err
	}
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, s.set.url, nil)
	if err != nil {
		return interceptor.RouteStats{}, fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "ebb-http-scaler")
	req.Header.Set("Authorization", "Bearer "+s.set.cfg.BearerToken)
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			client.CloseIdleConnections()
		}
		return interceptor.RouteStats{}, err
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxStatsBody)
	switch {
	case resp.StatusCode == nethttp.StatusUnauthorized:
		return interceptor.RouteStats{}, errors.New("the interceptor refused the bearerToken (401): check the TriggerAuthentication against the interceptor's --token-file")
	case resp.StatusCode != nethttp.StatusOK:
		return interceptor.RouteStats{}, fmt.Errorf("the interceptor answered %s", resp.Status)
	}
	var sr interceptor.StatsResponse
	if err := json.NewDecoder(body).Decode(&sr); err != nil {
		return interceptor.RouteStats{}, fmt.Errorf("read the interceptor's answer: %w", err)
	}
	for _, r := range sr.Routes {
		if r.Name == s.set.cfg.Route {
			return r, nil
		}
	}
	return interceptor.RouteStats{}, fmt.Errorf("the interceptor has no route %q; expected the name of one in its --routes file", s.set.cfg.Route)
}
