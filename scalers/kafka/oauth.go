// SPDX-License-Identifier: Apache-2.0

package kafka

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go/sasl"

	"github.com/ebbscale/ebb/scalers"
)

// SASL/OAUTHBEARER (RFC 7628, KIP-255) with a token from the OAuth 2.0
// client-credentials grant (RFC 6749 section 4.4).

// Bounds of the token endpoint's answer: a token response is a small JSON
// object (a JWT of a few KiB and three or four other members).
var tokenLimits = scalers.JSONLimits{Bytes: 64 << 10, Values: 256, Depth: 8}

// maxToken bounds the access token's length.
const maxToken = 16 << 10

// tokenTimeout bounds one token request, within the caller's context.
const tokenTimeout = 30 * time.Second

// defaultTokenLifetime is how long a token is reused when the endpoint
// does not say (no expires_in).
const defaultTokenLifetime = 5 * time.Minute

// tokenSource gets access tokens for one OAuth client and keeps the
// current one until shortly before it expires. It is owned by one cluster
// client, safe for concurrent use, and closed with it.
type tokenSource struct {
	key    oauthKey
	client *http.Client
	now    func() time.Time

	fetches scalers.Coalescer[token] // one request in flight for all connections

	mu  sync.Mutex
	cur token
}

// token is an access token and when to stop using it.
type token struct {
	value   string
	renewAt time.Time
}

func newTokenSource(key oauthKey, egress *scalers.Egress, now func() time.Time) *tokenSource {
	tr := scalers.NewTransport(egress, 2, nil)
	return &tokenSource{key: key, client: scalers.NewHTTPClient(tr), now: now}
}

func (s *tokenSource) close() { s.client.CloseIdleConnections() }

// Token returns a token that is not about to expire, fetching one when
// needed. Its errors hold neither the secret nor the endpoint's words.
func (s *tokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	if cur.value != "" && s.now().Before(cur.renewAt) {
		return cur.value, nil
	}
	t, err := s.fetches.Do(ctx, "token", func(ctx context.Context) (token, error) {
		t, err := s.fetch(ctx)
		if err == nil {
			// Kept before the request leaves the coalescer, so that a
			// caller coming just after it finds the token.
			s.mu.Lock()
			s.cur = t
			s.mu.Unlock()
		}
		return t, err
	})
	if err != nil {
		return "", scalers.Redact(err, s.key.clientSecret)
	}
	return t.value, nil
}

// tokenResponse is the successful answer of a token endpoint (RFC 6749
// section 5.1), or its error answer (section 5.2).
type tokenResponse struct {
	AccessToken string  `json:"access_token"`
	TokenType   string  `json:"token_type"`
	ExpiresIn   float64 `json:"expires_in"`
	Error       string  `json:"error"`
}

// fetch asks the endpoint for a token with the client-credentials grant,
// the client authenticating with HTTP basic authentication.
func (s *tokenSource) fetch(ctx context.Context) (token, error) {
	ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	form := url.Values{"grant_type": {"client_credentials"}}
	if s.key.scopes != "" {
		form.Set("scope", s.key.scopes)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.key.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return token{}, errors.New("the OAuth token request: oauthTokenEndpointUri is not usable")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "ebb-kafka-scaler")
	// RFC 6749 section 2.3.1: the id and secret are form-encoded, then
	// sent as basic authentication.
	req.SetBasicAuth(url.QueryEscape(s.key.clientID), url.QueryEscape(s.key.clientSecret))
	sent := s.now()
	resp, err := s.client.Do(req)
	if err != nil {
		return token{}, fmt.Errorf("the OAuth token endpoint: no answer: %w", scalers.StripURL(err))
	}
	defer resp.Body.Close()
	var tr tokenResponse
	rerr := scalers.ReadJSON(resp.Body, tokenLimits, &tr)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if rerr == nil && knownOAuthError(tr.Error) {
			return token{}, fmt.Errorf("the OAuth token endpoint answered HTTP %d, error %s", resp.StatusCode, tr.Error)
		}
		return token{}, fmt.Errorf("the OAuth token endpoint answered HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if rerr != nil {
		return token{}, fmt.Errorf("the OAuth token endpoint's answer: %w", rerr)
	}
	switch {
	case tr.AccessToken == "":
		return token{}, errors.New("the OAuth token endpoint's answer has no access_token")
	case len(tr.AccessToken) > maxToken:
		return token{}, fmt.Errorf("the OAuth token endpoint's access_token is longer than %d bytes", maxToken)
	case !isPrintable(tr.AccessToken) || strings.ContainsAny(tr.AccessToken, " \x01"):
		return token{}, errors.New("the OAuth token endpoint's access_token has characters a bearer token cannot have")
	case tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer"):
		return token{}, errors.New("the OAuth token endpoint's token_type is not bearer")
	case tr.ExpiresIn < 0:
		return token{}, errors.New("the OAuth token endpoint's expires_in is negative")
	}
	return token{value: tr.AccessToken, renewAt: renewAt(sent, tr.ExpiresIn)}, nil
}

// renewAt is when to stop using a token got at sent that lives expiresIn
// seconds (0: unknown): a fifth of its life before it expires, at most a
// minute before.
func renewAt(sent time.Time, expiresIn float64) time.Time {
	life := defaultTokenLifetime
	if expiresIn > 0 {
		life = time.Duration(min(expiresIn, 365*24*3600) * float64(time.Second))
	}
	return sent.Add(life - min(life/5, time.Minute))
}

// knownOAuthError says whether an error code is one of RFC 6749's, which
// may be shown: nothing else the endpoint says is.
func knownOAuthError(code string) bool {
	switch code {
	case "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope":
		return true
	}
	return false
}

// oauthMechanism is SASL OAUTHBEARER with tokens from a tokenSource.
type oauthMechanism struct {
	src        *tokenSource
	extensions string // "k=v\x01..."
}

var _ sasl.Mechanism = (*oauthMechanism)(nil)

func (m *oauthMechanism) Name() string { return "OAUTHBEARER" }

// Start sends the client's initial response (RFC 7628 section 3.1):
// "n,,", then "auth=Bearer <token>" and the extensions, each ended by ^A,
// and a final ^A.
func (m *oauthMechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	tok, err := m.src.Token(ctx)
	if err != nil {
		return nil, nil, err
	}
	msg := "n,,\x01auth=Bearer " + tok + "\x01" + m.extensions + "\x01"
	return &oauthSession{}, []byte(msg), nil
}

// oauthSession is the rest of the exchange: the broker answers nothing on
// success; an answer is its error report (RFC 7628 section 3.2.2), which
// the client acknowledges with ^A before the broker fails the exchange.
type oauthSession struct{ failed bool }

func (s *oauthSession) Next(_ context.Context, challenge []byte) (bool, []byte, error) {
	switch {
	case s.failed:
		return false, nil, errors.New("the broker refused the OAuth token")
	case len(challenge) == 0:
		return true, nil, nil
	}
	// The broker's report (a JSON status) is not repeated: its words.
	s.failed = true
	return false, []byte{0x01}, nil
}
