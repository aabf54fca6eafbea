// SPDX-License-Identifier: Apache-2.0

package kafka

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// tokenEndpoint is an OAuth 2.0 token endpoint on loopback that grants the
// client-credentials grant to one client, answering what answer says.
type tokenEndpoint struct {
	srv    *httptest.Server
	hits   atomic.Int64
	answer func(w http.ResponseWriter, n int64)

	mu   sync.Mutex
	form map[string]string
}

const testClientID, testClientSecret = "ebb-scaler", "s3cret/with&chars"

func startTokenEndpoint(t *testing.T, answer func(w http.ResponseWriter, n int64)) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{answer: answer}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.hits.Add(1)
		id, secret, ok := r.BasicAuth()
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || !ok {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		e.form = map[string]string{"grant_type": r.PostForm.Get("grant_type"), "scope": r.PostForm.Get("scope"), "id": id, "secret": secret}
		e.mu.Unlock()
		// RFC 6749 section 2.3.1: form-encoded, then basic.
		if id != "ebb-scaler" || secret != "s3cret%2Fwith%26chars" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"zqx bad client zqx"}`)
			return
		}
		e.answer(w, n)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// grant answers a token "token-<n>" that lives expiresIn seconds.
func grant(expiresIn int) func(w http.ResponseWriter, n int64) {
	return func(w http.ResponseWriter, n int64) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"token-%d","token_type":"Bearer","expires_in":%d}`, n, expiresIn)
	}
}

func newTestSource(e *tokenEndpoint, now func() time.Time) *tokenSource {
	key := oauthKey{endpoint: e.srv.URL + "/oauth2/token", clientID: testClientID, clientSecret: testClientSecret, scopes: "kafka.read kafka.describe"}
	return newTokenSource(key, scalers.DefaultEgress(), now)
}

func TestTheTokenIsFetchedWithClientCredentialsAndKeptUntilShortlyBeforeItExpires(t *testing.T) {
	e := startTokenEndpoint(t, grant(3600))
	clock := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); clock = clock.Add(d) }
	src := newTestSource(e, now)
	defer src.close()

	get := func(want string) {
		t.Helper()
		tok, err := src.Token(context.Background())
		if err != nil || tok != want {
			t.Fatalf("Token = %q, %v; want %q", tok, err, want)
		}
	}
	get("token-1")
	e.mu.Lock()
	form := e.form
	e.mu.Unlock()
	if form["grant_type"] != "client_credentials" || form["scope"] != "kafka.read kafka.describe" {
		t.Errorf("the request's form = %v, want grant_type client_credentials and the scopes space-separated", form)
	}
	advance(58 * time.Minute) // the token lives 60 minutes: renewed 1 minute before
	get("token-1")
	advance(time.Minute + time.Second)
	get("token-2")
	if n := e.hits.Load(); n != 2 {
		t.Errorf("the endpoint saw %d requests, want 2", n)
	}
}

func TestConcurrentConnectionsShareOneTokenRequest(t *testing.T) {
	release := make(chan struct{})
	e := startTokenEndpoint(t, func(w http.ResponseWriter, n int64) {
		<-release
		grant(60)(w, n)
	})
	src := newTestSource(e, time.Now)
	defer src.close()
	var wg sync.WaitGroup
	toks := make([]string, 8)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], _ = src.Token(context.Background())
		}()
	}
	// The first request is in flight; let it answer once it arrived.
	for e.hits.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, tok := range toks {
		if tok == "" {
			t.Errorf("caller %d got no token", i)
		}
	}
	if n := e.hits.Load(); n != 1 {
		t.Errorf("the endpoint saw %d requests for %d callers, want 1", n, len(toks))
	}
}

func TestATokenEndpointThatRefusesIsAnErrorInEbbsWords(t *testing.T) {
	tests := map[string]struct {
		answer  func(w http.ResponseWriter, n int64)
		badAuth bool
		want    string
	}{
		"a wrong client secret gives RFC 6749's error code only": {
			badAuth: true, want: "HTTP 401, error invalid_client",
		},
		"a server error gives its status only": {
			answer: func(w http.ResponseWriter, _ int64) { http.Error(w, "zqx upstream zqx", http.StatusBadGateway) },
			want:   "HTTP 502 Bad Gateway",
		},
		"an error code that is not RFC 6749's is not repeated": {
			answer: func(w http.ResponseWriter, _ int64) {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":"zqx_custom"}`)
			},
			want: "HTTP 400 Bad Request",
		},
		"an answer without access_token": {
			answer: func(w http.ResponseWriter, _ int64) { fmt.Fprint(w, `{"token_type":"Bearer","zqx":"zqx"}`) },
			want:   "has no access_token",
		},
		"a token with a control character": {
			answer: func(w http.ResponseWriter, _ int64) { fmt.Fprint(w, `{"access_token":"zqx\u0001zqx"}`) },
			want:   "characters a bearer token cannot have",
		},
		"a token of another type": {
			answer: func(w http.ResponseWriter, _ int64) { fmt.Fprint(w, `{"access_token":"zqx","token_type":"mac"}`) },
			want:   "token_type is not bearer",
		},
		"an answer that is not JSON": {
			answer: func(w http.ResponseWriter, _ int64) { fmt.Fprint(w, `<html>zqx</html>`) },
			want:   "not valid JSON",
		},
		"an endless answer": {
			answer: func(w http.ResponseWriter, _ int64) {
				fmt.Fprint(w, `{"access_token":"`)
				chunk := strings.Repeat("z", 64<<10)
				for range 100 {
					if _, err := fmt.Fprint(w, chunk); err != nil {
						return
					}
				}
			},
			want: "too large",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := startTokenEndpoint(t, tc.answer)
			src := newTestSource(e, time.Now)
			defer src.close()
			if tc.badAuth {
				src.key.clientSecret = "wrong-" + testClientSecret
			}
			_, err := src.Token(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Token = %v, want an error containing %q", err, tc.want)
			}
			for _, s := range []string{"zqx", testClientSecret, e.srv.URL} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains %q", err, s)
				}
			}
		})
	}
}

func TestTheTokenEndpointIsUnderTheEgressPolicy(t *testing.T) {
	e := startTokenEndpoint(t, grant(60))
	egress, err := scalers.NewEgress(scalers.EgressRules{Deny: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	key := oauthKey{endpoint: e.srv.URL, clientID: testClientID, clientSecret: testClientSecret}
	src := newTokenSource(key, egress, time.Now)
	defer src.close()
	_, err = src.Token(context.Background())
	var ee *scalers.EgressError
	if !errors.As(err, &ee) {
		t.Fatalf("Token = %v, want an egress refusal", err)
	}
	if n := e.hits.Load(); n != 0 {
		t.Errorf("the endpoint saw %d requests", n)
	}
}

func TestTheSASLMessageCarriesTheTokenAndTheExtensions(t *testing.T) {
	e := startTokenEndpoint(t, grant(60))
	src := newTestSource(e, time.Now)
	defer src.close()
	m := &oauthMechanism{src: src, extensions: "logicalCluster=lkc-1\x01traceId=abc\x01"}
	sess, msg, err := m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := "n,,\x01auth=Bearer token-1\x01logicalCluster=lkc-1\x01traceId=abc\x01\x01"; string(msg) != want {
		t.Errorf("initial response = %q, want %q", msg, want)
	}
	if done, _, err := sess.Next(context.Background(), nil); !done || err != nil {
		t.Errorf("an empty server answer: done %v, %v; want done", done, err)
	}
	// An error report is acknowledged with ^A, then the exchange fails.
	sess, _, _ = m.Start(context.Background())
	done, resp, err := sess.Next(context.Background(), []byte(`{"status":"invalid_token"}`))
	if done || err != nil || string(resp) != "\x01" {
		t.Errorf("an error report: %v, %q, %v; want ^A", done, resp, err)
	}
	if _, _, err := sess.Next(context.Background(), nil); err == nil || strings.Contains(err.Error(), "invalid_token") {
		t.Errorf("after the error report: %v, want an error in Ebb's words", err)
	}
}
