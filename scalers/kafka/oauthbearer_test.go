// SPDX-License-Identifier: Apache-2.0

package kafka_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ebbscale/ebb/scalers/kafka"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// oauthBroker makes the brokers of c speak SASL/OAUTHBEARER: kfake has no
// OAUTHBEARER of its own, so the test answers the SASL handshake and
// authenticate requests, accepting exactly "n,,^Aauth=Bearer <valid>^A^A"
// and answering anything else with an RFC 7628 error report, then failing
// the exchange. It returns the number of successful authentications.
func oauthBroker(c *cluster, valid string) *atomic.Int64 {
	var ok atomic.Int64
	c.kfake.ControlKey(int16(kmsg.SASLHandshake), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.kfake.KeepControl()
		r := req.(*kmsg.SASLHandshakeRequest)
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.SupportedMechanisms = []string{"OAUTHBEARER"}
		if r.Mechanism != "OAUTHBEARER" {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		}
		return resp, nil, true
	})
	c.kfake.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.kfake.KeepControl()
		r := req.(*kmsg.SASLAuthenticateRequest)
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		switch string(r.SASLAuthBytes) {
		case "n,,\x01auth=Bearer " + valid + "\x01\x01":
			ok.Add(1)
		case "\x01":
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		default:
			resp.SASLAuthBytes = []byte(`{"status":"invalid_token"}`)
		}
		return resp, nil, true
	})
	return &ok
}

// tokenServer grants token to the client "ebb"/"ebb-secret" and counts the
// requests.
func tokenServer(t *testing.T, token string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mu.Lock()
		defer mu.Unlock()
		id, secret, _ := r.BasicAuth()
		if r.FormValue("grant_type") != "client_credentials" || id != "ebb" || secret != "ebb-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":3600}`, token)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestSASLOAuthBearerReadsWithATokenFromTheEndpoint(t *testing.T) {
	c := startCluster(t, clusterOpts{brokers: 3})
	topic := c.topic(3)
	group := unique("group")
	c.produce(topic, 5, 6, 7)
	auths := oauthBroker(c, "good-token")
	srv, tokens := tokenServer(t, "good-token")

	for _, creds := range []map[string]string{
		{"clientId": "ebb", "clientSecret": "ebb-secret"},
		{"username": "ebb", "password": "ebb-secret"}, // KEDA's names
	} {
		auth := map[string]string{"sasl": "oauthbearer", "oauthTokenEndpointUri": srv.URL + "/token", "scopes": "kafka"}
		for k, v := range creds {
			auth[k] = v
		}
		before := tokens.Load()
		sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md(
			"bootstrapServers", c.addr, "consumerGroup", group, "topic", topic,
			"offsetResetPolicy", "earliest", "lagThreshold", "100"), auth))
		expectReading(t, sc, 18, true)
		if n := tokens.Load() - before; n != 1 {
			t.Errorf("%v: the token endpoint saw %d requests, want 1 for every broker connection", creds, n)
		}
	}
	if n := auths.Load(); n < 2 {
		t.Errorf("the brokers saw %d OAUTHBEARER authentications, want one per connection (3 brokers)", n)
	}
}

func TestATokenTheBrokerRefusesIsAnAuthenticationError(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(1)
	oauthBroker(c, "good-token")
	srv, _ := tokenServer(t, "stale-token")
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md(
		"bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic, "sasl", "oauthbearer"),
		map[string]string{"oauthTokenEndpointUri": srv.URL, "clientId": "ebb", "clientSecret": "ebb-secret"}))
	err := readErr(t, sc)
	if !strings.Contains(err.Error(), "SASL authentication failed") {
		t.Fatalf("Read = %v, want a SASL authentication error", err)
	}
	for _, s := range []string{"stale-token", "ebb-secret", "invalid_token"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestAWrongClientSecretIsAnErrorAtTheTokenEndpoint(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	oauthBroker(c, "good-token")
	srv, _ := tokenServer(t, "good-token")
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md(
		"bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", c.topic(1), "sasl", "oauthbearer"),
		map[string]string{"oauthTokenEndpointUri": srv.URL, "clientId": "ebb", "clientSecret": "wrong-secret"}))
	err := readErr(t, sc)
	if !contains(err.Error(), "OAuth token endpoint", "HTTP 401", "invalid_client") || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("Read = %v, want the endpoint's refusal without the secret", err)
	}
}

func TestOAuthKeysAreChecked(t *testing.T) {
	base := func(kv ...string) map[string]string {
		return scalertest.With(md("bootstrapServers", "kafka:9092", "consumerGroup", "g", "topic", "t"), kv...)
	}
	creds := map[string]string{"oauthTokenEndpointUri": "https://login.example/token", "clientId": "c", "clientSecret": "s"}
	for name, tc := range map[string]struct {
		meta map[string]string
		auth map[string]string
		key  string
	}{
		"oauthbearer without a token endpoint":           {base("sasl", "oauthbearer"), map[string]string{"clientId": "c", "clientSecret": "s"}, "oauthTokenEndpointUri"},
		"a token endpoint that is not a URL":             {base("sasl", "oauthbearer", "oauthTokenEndpointUri", "login.example/token"), map[string]string{"clientId": "c", "clientSecret": "s"}, "oauthTokenEndpointUri"},
		"oauthbearer without a client id":                {base("sasl", "oauthbearer"), map[string]string{"oauthTokenEndpointUri": "https://login.example/token", "clientSecret": "s"}, "clientId"},
		"oauthbearer without a client secret":            {base("sasl", "oauthbearer"), map[string]string{"oauthTokenEndpointUri": "https://login.example/token", "clientId": "c"}, "clientSecret"},
		"a token endpoint without sasl oauthbearer":      {base("sasl", "plaintext"), map[string]string{"oauthTokenEndpointUri": "https://x/t", "username": "u", "password": "p"}, "oauthTokenEndpointUri"},
		"an extension named auth":                        {base("sasl", "oauthbearer", "oauthExtensions", "auth=x"), creds, "oauthExtensions"},
		"the aws_msk_iam token provider":                 {base("sasl", "oauthbearer", "saslTokenProvider", "aws_msk_iam"), creds, "saslTokenProvider"},
		"a client secret in the metadata":                {base("sasl", "oauthbearer", "clientSecret", "s"), creds, "clientSecret"},
		"clientId and username both set, differently":    {base("sasl", "oauthbearer"), map[string]string{"oauthTokenEndpointUri": "https://x/t", "clientId": "c", "username": "u", "clientSecret": "s"}, "clientId"},
		"a scope with a space in it (scopes are a list)": {base("sasl", "oauthbearer", "scopes", "a b"), creds, "scopes"},
	} {
		t.Run(name, func(t *testing.T) {
			err := kafka.NewType().Validate(trigger(tc.meta, tc.auth))
			if err == nil || !strings.Contains(err.Error(), `"`+tc.key+`"`) {
				t.Fatalf("Validate = %v, want an error naming %q", err, tc.key)
			}
			if strings.Contains(err.Error(), `"s"`) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

func TestApacheKafkaIsAnotherNameOfTheKafkaTrigger(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(2)
	c.produce(topic, 3, 4)
	typ := kafka.NewType()
	alias := typ.Alias(kafka.ApacheKafka)
	if alias.Name() != "apache-kafka" {
		t.Fatalf("Name = %q", alias.Name())
	}
	tr := trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic, "offsetResetPolicy", "earliest"), nil)
	tr.Type = kafka.ApacheKafka
	sc := scalertest.NewScaler(t, alias, tr)
	expectReading(t, sc, 7, true)
	if name := sc.Metric().Name; !strings.HasPrefix(name, "s0-apache-kafka-") {
		t.Errorf("metric name = %q, want s0-apache-kafka-...", name)
	}
	// A kafka trigger on the same cluster shares the alias's client.
	tr.Type = "kafka"
	expectReading(t, scalertest.NewScaler(t, typ, tr), 7, true)
	if n := typ.OpenConnections(); n != 1 {
		t.Errorf("OpenConnections = %d, want 1 shared by kafka and apache-kafka", n)
	}
}
