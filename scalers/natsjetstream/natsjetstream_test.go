// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// A consumer's value is the messages it has not finished with: those not yet
// delivered (num_pending) and those delivered but not acknowledged
// (num_ack_pending). A worker holding a message keeps it counted until it
// acknowledges it.
func TestTheValueIsPendingPlusUnacknowledgedMessages(t *testing.T) {
	a := newAdmin(t)
	stream := a.stream("value")
	consumer, cons := a.pullConsumer(stream, "worker")
	sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"natsServerURL": natsURL, "stream": stream, "consumer": consumer}, nil))

	if r := scalertest.MustRead(t, sc); r.Value != 0 || r.Active {
		t.Fatalf("empty stream: Read = %+v, want 0, inactive", r)
	}
	a.publish(stream, 7)
	if r := scalertest.MustRead(t, sc); r.Value != 7 || !r.Active {
		t.Fatalf("after 7 messages: Read = %+v, want 7, active", r)
	}
	msgs := a.fetch(cons, 3)
	wantValue(t, sc, 7) // 4 pending + 3 delivered and not acknowledged
	a.ack(msgs[:2])
	wantValue(t, sc, 5)
	a.ack(msgs[2:])
	wantValue(t, sc, 4)
	a.ack(a.fetch(cons, 4))
	if r := scalertest.MustRead(t, sc); r.Value != 0 || r.Active {
		t.Fatalf("all processed: Read = %+v, want 0, inactive", r)
	}
}

// The trigger is active when its value is above activationLagThreshold, not
// at it.
func TestActivationIsAboveTheActivationLagThreshold(t *testing.T) {
	a := newAdmin(t)
	stream := a.stream("activation")
	consumer, _ := a.pullConsumer(stream, "worker")
	sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{
		"natsServerURL": natsURL, "stream": stream, "consumer": consumer, "activationLagThreshold": "5",
	}, nil))
	a.publish(stream, 5)
	if r := scalertest.MustRead(t, sc); r.Value != 5 || r.Active {
		t.Fatalf("at the threshold: Read = %+v, want 5, inactive", r)
	}
	a.publish(stream, 1)
	if r := scalertest.MustRead(t, sc); r.Value != 6 || !r.Active {
		t.Fatalf("above the threshold: Read = %+v, want 6, active", r)
	}
}

func TestMetricDescribesTheTrigger(t *testing.T) {
	base := map[string]string{"natsServerURL": "nats://nats.example:4222", "stream": "ORDERS", "consumer": "eu_worker"}
	cases := map[string]struct {
		meta       map[string]string
		metricType v1alpha1.MetricType
		want       scalers.MetricSpec
	}{
		"KEDA's defaults: a target of 10 and activation above 0": {
			meta: base,
			want: scalers.MetricSpec{Name: "s2-nats-jetstream-orders-eu-worker", Target: 10, ActivationTarget: 0, Type: v1alpha1.MetricTypeAverageValue},
		},
		"lagThreshold and activationLagThreshold as given, with metricType Value": {
			meta:       scalertest.With(base, "lagThreshold", "25", "activationLagThreshold", "3"),
			metricType: v1alpha1.MetricTypeValue,
			want:       scalers.MetricSpec{Name: "s2-nats-jetstream-orders-eu-worker", Target: 25, ActivationTarget: 3, Type: v1alpha1.MetricTypeValue},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tr := trigger(tc.meta, nil)
			tr.Index, tr.MetricType = 2, tc.metricType
			sc := scalertest.NewScaler(t, NewType(), tr)
			if got := sc.Metric(); got != tc.want {
				t.Errorf("Metric() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A push consumer is read like a pull consumer, over either source.
func TestAPushConsumerIsRead(t *testing.T) {
	srv := startServer(t, serverOptions{})
	a := connectAdmin(t, srv.url())
	stream := a.stream("push")
	consumer := a.pushConsumer(stream, "pusher")
	a.publish(stream, 3)
	typ := NewType()
	meta := map[string]string{"stream": stream, "consumer": consumer}
	wantValue(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerURL", srv.url()), nil)), 3)
	wantValue(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerMonitoringEndpoint", srv.monitor), nil)), 3)
}

// A missing stream or consumer is an error that names it, never a zero, over
// either source.
func TestAMissingStreamOrConsumerIsAnErrorNamingIt(t *testing.T) {
	srv := startServer(t, serverOptions{})
	a := connectAdmin(t, srv.url())
	stream := a.stream("present")
	consumer, _ := a.pullConsumer(stream, "present")
	typ := NewType()
	sources := map[string]map[string]string{
		"over the protocol":            {"natsServerURL": srv.url()},
		"from the monitoring endpoint": {"natsServerMonitoringEndpoint": srv.monitor},
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			noStream := uniqueName("absent")
			err := readError(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(src, "stream", noStream, "consumer", consumer), nil)))
			if !errors.Is(err, ErrStreamNotFound) || !strings.Contains(err.Error(), `"`+noStream+`"`) {
				t.Errorf("missing stream: error %q, want ErrStreamNotFound naming %s", err, noStream)
			}
			noConsumer := uniqueName("absent")
			err = readError(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(src, "stream", stream, "consumer", noConsumer), nil)))
			if !errors.Is(err, ErrConsumerNotFound) || !strings.Contains(err.Error(), `"`+noConsumer+`"`) || !strings.Contains(err.Error(), `"`+stream+`"`) {
				t.Errorf("missing consumer: error %q, want ErrConsumerNotFound naming %s and its stream %s", err, noConsumer, stream)
			}
			t.Logf("the errors read: %v", err)
		})
	}
}

// The monitoring endpoint (KEDA's source) and the NATS protocol (Ebb's) give
// the same value for the same consumer, whatever state its messages are in.
func TestTheMonitoringEndpointReadsWhatTheProtocolReads(t *testing.T) {
	srv := startServer(t, serverOptions{})
	a := connectAdmin(t, srv.url())
	stream := a.stream("same")
	consumer, cons := a.pullConsumer(stream, "worker")
	typ := NewType()
	meta := map[string]string{"stream": stream, "consumer": consumer}
	overProtocol := scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerURL", srv.url()), nil))
	fromMonitoring := scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerMonitoringEndpoint", srv.monitor, "account", "$G"), nil))
	same := func(state string, want float64) {
		t.Helper()
		p, m := scalertest.MustRead(t, overProtocol), scalertest.MustRead(t, fromMonitoring)
		if p != m || p.Value != want {
			t.Errorf("%s: over the protocol %+v, from the monitoring endpoint %+v; want both %v", state, p, m, want)
		}
	}
	same("empty", 0)
	a.publish(stream, 12)
	same("12 published", 12)
	msgs := a.fetch(cons, 5)
	same("5 of 12 delivered, none acknowledged", 12)
	a.ack(msgs)
	same("5 of 12 acknowledged", 7)
}

// Over the monitoring endpoint, the account is looked for by name: another
// account's streams are not read, and an account the server does not know is
// an error, never a zero.
func TestTheMonitoringEndpointReadsTheNamedAccount(t *testing.T) {
	cred := newAuthServer(t)
	a := connectAdmin(t, cred.srv.url(), nats.UserInfo(cred.user, cred.password))
	stream := a.stream("team")
	consumer, _ := a.pullConsumer(stream, "worker")
	a.publish(stream, 4)
	typ := NewType()
	meta := map[string]string{"natsServerMonitoringEndpoint": cred.srv.monitor, "stream": stream, "consumer": consumer}

	wantValue(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "account", "TEAM"), nil)), 4)

	err := readError(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "account", "NOPE"), nil)))
	if !errors.Is(err, ErrAccountNotFound) || !strings.Contains(err.Error(), `"NOPE"`) {
		t.Errorf("unknown account: error %q, want ErrAccountNotFound naming NOPE", err)
	}
}

// authServer is a server of the test's own with an account TEAM, JetStream
// enabled for it, and users in it: one with a password, one with an NKey,
// and one that may not use the JetStream API.
type authServer struct {
	srv            *server
	user, password string
	nkeySeed       string
	lockedUser     string
	lockedPassword string
}

func newAuthServer(t testing.TB) *authServer {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	s := &authServer{
		user: "alice", password: "Pw-" + uniqueName("a") + ":@/%?",
		nkeySeed:   string(seed),
		lockedUser: "locked", lockedPassword: "Pw-" + uniqueName("l"),
	}
	s.srv = startServer(t, serverOptions{config: `
accounts {
  TEAM {
    jetstream: enabled
    users = [
      {user: "` + s.user + `", password: "` + s.password + `"}
      {nkey: "` + pub + `"}
      {user: "` + s.lockedUser + `", password: "` + s.lockedPassword + `", permissions: {publish: {deny: ["$JS.API.>"]}}}
    ]
  }
}
`})
	return s
}

// Credentials are taken from the TriggerAuthentication or the URL, and a
// refused or wrong credential is an error that never shows it.
func TestCredentials(t *testing.T) {
	cred := newAuthServer(t)
	a := connectAdmin(t, cred.srv.url(), nats.UserInfo(cred.user, cred.password))
	stream := a.stream("auth")
	consumer, _ := a.pullConsumer(stream, "worker")
	a.publish(stream, 3)
	typ := NewType()
	meta := map[string]string{"natsServerURL": cred.srv.url(), "stream": stream, "consumer": consumer}
	withUser := url.URL{Scheme: "nats", User: url.UserPassword(cred.user, cred.password), Host: cred.srv.addr}
	secrets := []string{cred.password, url.QueryEscape(cred.password), url.PathEscape(cred.password), cred.nkeySeed, cred.lockedPassword}
	noSecret := func(t *testing.T, err error) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error text contains a secret: %q", scalers.RedactString(err.Error(), secrets...))
			}
		}
	}

	t.Run("a username and password from the TriggerAuthentication", func(t *testing.T) {
		wantValue(t, scalertest.NewScaler(t, typ, trigger(meta, map[string]string{"username": cred.user, "password": cred.password})), 3)
	})
	t.Run("a username and password in natsServerURL", func(t *testing.T) {
		wantValue(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerURL", withUser.String()), nil)), 3)
	})
	t.Run("natsServerURL with its credentials from the TriggerAuthentication", func(t *testing.T) {
		wantValue(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerURL", ""), map[string]string{"natsServerURL": withUser.String()})), 3)
	})
	t.Run("an NKey seed", func(t *testing.T) {
		wantValue(t, scalertest.NewScaler(t, typ, trigger(meta, map[string]string{"nkeySeed": cred.nkeySeed})), 3)
	})
	t.Run("a wrong password is an error that shows neither password", func(t *testing.T) {
		wrong := "Wrong-" + uniqueName("pw")
		secrets := append(secrets, wrong)
		err := readError(t, scalertest.NewScaler(t, typ, trigger(meta, map[string]string{"username": cred.user, "password": wrong})))
		if !strings.Contains(err.Error(), "refused the credentials") {
			t.Errorf("error %q does not say the credentials were refused", err)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error text contains a secret: %q", scalers.RedactString(err.Error(), secrets...))
			}
		}
		t.Logf("the error reads: %v", err)
	})
	t.Run("a refused URL with user information does not show it", func(t *testing.T) {
		u := url.URL{Scheme: "nats", User: url.UserPassword(cred.user, cred.password+"x"), Host: cred.srv.addr}
		err := readError(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerURL", u.String()), nil)))
		noSecret(t, err)
		if strings.Contains(err.Error(), cred.user+":") {
			t.Errorf("error text contains the URL's user information: %q", err)
		}
	})
	t.Run("no credentials on a server that needs them", func(t *testing.T) {
		err := readError(t, scalertest.NewScaler(t, typ, trigger(meta, nil)))
		if !strings.Contains(err.Error(), "refused the credentials") {
			t.Errorf("error %q does not say the credentials were refused", err)
		}
	})
	t.Run("a user the server forbids the JetStream API is told so", func(t *testing.T) {
		err := readError(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "timeout", "2s"), map[string]string{"username": cred.lockedUser, "password": cred.lockedPassword})))
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("error %q does not pass on the server's permissions violation", err)
		}
		noSecret(t, err)
		t.Logf("the error reads: %v", err)
	})
}

func TestATokenAuthenticates(t *testing.T) {
	token := "Tok-" + uniqueName("t")
	srv := startServer(t, serverOptions{config: `authorization { token: "` + token + `" }`})
	a := connectAdmin(t, srv.url(), nats.Token(token))
	stream := a.stream("token")
	consumer, _ := a.pullConsumer(stream, "worker")
	a.publish(stream, 2)
	typ := NewType()
	meta := map[string]string{"natsServerURL": srv.url(), "stream": stream, "consumer": consumer}

	wantValue(t, scalertest.NewScaler(t, typ, trigger(meta, map[string]string{"token": token})), 2)
	wantValue(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerURL", "nats://"+token+"@"+srv.addr), nil)), 2)

	wrong := "Wrong-" + uniqueName("t")
	for _, tr := range []scalers.Trigger{
		trigger(meta, map[string]string{"token": wrong}),
		trigger(scalertest.With(meta, "natsServerURL", "nats://"+wrong+"@"+srv.addr), nil),
	} {
		err := readError(t, scalertest.NewScaler(t, typ, tr))
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), token) {
			t.Errorf("error text contains a token: %q", scalers.RedactString(err.Error(), wrong, token))
		}
	}
}

// Triggers share one connection per (servers, credentials): the server sees
// one Ebb connection for any number of triggers with the same credentials,
// and one more for other credentials. Closing the last trigger on a
// connection closes it.
func TestOneConnectionPerServerAndCredentials(t *testing.T) {
	cred := newAuthServer(t)
	a := connectAdmin(t, cred.srv.url(), nats.UserInfo(cred.user, cred.password))
	stream := a.stream("pool")
	consumer, _ := a.pullConsumer(stream, "worker")
	typ := NewType()
	meta := map[string]string{"natsServerURL": cred.srv.url(), "stream": stream, "consumer": consumer}
	password := map[string]string{"username": cred.user, "password": cred.password}

	var scs []scalers.Scaler
	for i := 0; i < 5; i++ {
		tr := trigger(meta, password)
		tr.Index = i
		scs = append(scs, scalertest.NewScaler(t, typ, tr))
	}
	nkey := scalertest.NewScaler(t, typ, trigger(meta, map[string]string{"nkeySeed": cred.nkeySeed}))
	for _, sc := range append(scs, nkey) {
		scalertest.MustRead(t, sc)
	}
	if got := typ.OpenConnections(); got != 2 {
		t.Errorf("OpenConnections = %d, want 2 (one per credentials)", got)
	}
	if got := ebbConnections(t, cred.srv); got != 2 {
		t.Errorf("the server sees %d connections named %q, want 2", got, connectionName)
	}
	for _, sc := range scs {
		_ = sc.Close()
	}
	scalertest.Eventually(t, 10*time.Second, "the server to see one Ebb connection after the password triggers closed", func() (bool, string) {
		n := ebbConnections(t, cred.srv)
		return n == 1, strings.Repeat("x", n)
	})
	if got := typ.OpenConnections(); got != 1 {
		t.Errorf("OpenConnections = %d after closing the password triggers, want 1", got)
	}
}

// ebbConnections counts the connections the server reports with the
// scaler's connection name.
func ebbConnections(t testing.TB, s *server) int {
	t.Helper()
	resp, err := http.Get("http://" + s.monitor + "/connz?limit=1024")
	if err != nil {
		t.Fatalf("reading /connz: %v", err)
	}
	defer resp.Body.Close()
	var connz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		t.Fatalf("decoding /connz: %v", err)
	}
	n := 0
	for _, c := range connz.Connections {
		if c.Name == connectionName {
			n++
		}
	}
	return n
}

// When the server goes away, reads are errors (never zeros); when it comes
// back, the next read reconnects.
func TestReadsReconnectAfterTheServerRestarts(t *testing.T) {
	srv := startServer(t, serverOptions{})
	a := connectAdmin(t, srv.url())
	stream := a.stream("restart")
	consumer, _ := a.pullConsumer(stream, "worker")
	a.publish(stream, 6)
	typ := NewType()
	sc := scalertest.NewScaler(t, typ, trigger(map[string]string{"natsServerURL": srv.url(), "stream": stream, "consumer": consumer, "timeout": "3s"}, nil))
	wantValue(t, sc, 6)

	srv.stop()
	err := readError(t, sc)
	t.Logf("with the server down the read fails: %v", err)

	srv.start()
	scalertest.Eventually(t, 20*time.Second, "a read after the restart to give 6", func() (bool, string) {
		r, err := scalertest.Read(sc)
		if err != nil {
			return false, err.Error()
		}
		return r.Value == 6, "a value of something else"
	})
	if got := typ.OpenConnections(); got != 1 {
		t.Errorf("OpenConnections = %d after the reconnect, want 1", got)
	}
}

// A server without JetStream is an error that says so, over either source.
func TestAServerWithoutJetStreamIsAnError(t *testing.T) {
	srv := startServer(t, serverOptions{noJetStream: true})
	typ := NewType()
	meta := map[string]string{"stream": "ORDERS", "consumer": "worker"}
	for name, tr := range map[string]scalers.Trigger{
		"over the protocol":            trigger(scalertest.With(meta, "natsServerURL", srv.url()), nil),
		"from the monitoring endpoint": trigger(scalertest.With(meta, "natsServerMonitoringEndpoint", srv.monitor), nil),
	} {
		t.Run(name, func(t *testing.T) {
			err := readError(t, scalertest.NewScaler(t, typ, tr))
			if !errors.Is(err, ErrJetStreamNotEnabled) {
				t.Errorf("error %q, want ErrJetStreamNotEnabled", err)
			}
		})
	}
}

// natsServerURL, like KEDA's endpoint, may come from the target's
// environment, and the monitoring endpoint from the TriggerAuthentication.
func TestTheSourceMayComeFromTheEnvironmentOrTheTriggerAuthentication(t *testing.T) {
	srv := startServer(t, serverOptions{})
	a := connectAdmin(t, srv.url())
	stream := a.stream("where")
	consumer, _ := a.pullConsumer(stream, "worker")
	a.publish(stream, 2)
	typ := NewType()
	meta := map[string]string{"stream": stream, "consumer": consumer}

	fromEnv := trigger(scalertest.With(meta, "natsServerURLFromEnv", "NATS_URL"), nil)
	fromEnv.Env = map[string]string{"NATS_URL": srv.url()}
	wantValue(t, scalertest.NewScaler(t, typ, fromEnv), 2)

	wantValue(t, scalertest.NewScaler(t, typ, trigger(meta, map[string]string{"natsServerMonitoringEndpoint": srv.monitor})), 2)
}

func TestAClosedScalerDoesNotRead(t *testing.T) {
	sc, err := NewType().New(trigger(map[string]string{"natsServerURL": natsURL, "stream": "S", "consumer": "C"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(); err != nil {
		t.Errorf("a second Close = %v", err)
	}
	if r, err := scalertest.Read(sc); err == nil {
		t.Errorf("Read after Close = %+v with no error", r)
	}
}

// In a cluster, a follower's /jsz counts lag behind the leader's (they may
// only grow), so the monitoring endpoint of a server that is not the
// consumer's leader is an error naming the leader; the leader's endpoint
// reads, and over the protocol any server reads the leader's counts.
func TestInAClusterTheMonitoringEndpointMustBeTheConsumersLeader(t *testing.T) {
	routes := []string{scalertest.FreeAddr(t), scalertest.FreeAddr(t), scalertest.FreeAddr(t)}
	var list []string
	for _, r := range routes {
		list = append(list, `"nats://`+r+`"`)
	}
	cluster := uniqueName("cluster")
	nodes := map[string]*server{}
	var first *server
	for i, r := range routes {
		name := "n" + strconv.Itoa(i)
		nodes[name] = startServer(t, serverOptions{config: "server_name: " + name + "\n" +
			"cluster { name: " + cluster + "\n listen: \"" + r + "\"\n routes: [" + strings.Join(list, ", ") + "] }\n"})
		if i == 0 {
			first = nodes[name]
		}
	}
	a := connectAdmin(t, first.url())
	stream, consumer := uniqueName("cluster"), uniqueName("worker")
	var cons jetstream.Consumer
	scalertest.Eventually(t, 60*time.Second, "the cluster to create a replicated stream and consumer", func() (bool, string) {
		ctx, cancel := ctx10s()
		defer cancel()
		if _, err := a.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{stream + ".>"}, Replicas: 3}); err != nil {
			return false, err.Error()
		}
		c, err := a.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: consumer, AckPolicy: jetstream.AckExplicitPolicy, Replicas: 3})
		if err != nil {
			return false, err.Error()
		}
		cons = c
		return true, ""
	})
	a.publish(stream, 5)
	a.fetch(cons, 2)
	var leader string
	scalertest.Eventually(t, 30*time.Second, "the consumer to have a leader", func() (bool, string) {
		ctx, cancel := ctx10s()
		defer cancel()
		info, err := cons.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		if info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		return leader != "", "no leader"
	})

	typ := NewType()
	meta := map[string]string{"stream": stream, "consumer": consumer}
	for name, node := range nodes {
		wantValue(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerURL", node.url()), nil)), 5)
		sc := scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerMonitoringEndpoint", node.monitor), nil))
		if name == leader {
			wantValue(t, sc, 5)
			continue
		}
		err := readError(t, sc)
		// The leader's name is the server's word: not repeated.
		if !errors.Is(err, ErrNotLeader) || strings.Contains(err.Error(), `"`+leader+`"`) {
			t.Errorf("follower %s: error %q, want ErrNotLeader, without the leader's name %s", name, err, leader)
		}
		t.Logf("follower %s: %v", name, err)
	}
}

// The permissions docs/scalers/nats-jetstream.md says a scaler's user needs
// are enough: publishing to the consumer's info subject and receiving on an
// inbox.
func TestAUserAllowedOnlyTheConsumerInfoReads(t *testing.T) {
	stream, consumer := uniqueName("perm"), uniqueName("worker")
	adminPW, scalerPW := "Pw-"+uniqueName("admin"), "Pw-"+uniqueName("scaler")
	srv := startServer(t, serverOptions{config: `
authorization {
  users = [
    {user: "admin", password: "` + adminPW + `"}
    {user: "scaler", password: "` + scalerPW + `", permissions: {
      publish: {allow: ["$JS.API.CONSUMER.INFO.` + stream + `.` + consumer + `"]}
      subscribe: {allow: ["_INBOX.>"]}
    }}
  ]
}
`})
	a := connectAdmin(t, srv.url(), nats.UserInfo("admin", adminPW))
	ctx, cancel := ctx10s()
	defer cancel()
	if _, err := a.js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{stream + ".>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: consumer, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	a.publish(stream, 3)
	sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"natsServerURL": srv.url(), "stream": stream, "consumer": consumer},
		map[string]string{"username": "scaler", "password": scalerPW}))
	wantValue(t, sc, 3)
}
