// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
	"github.com/ebbscale/ebb/tests/faultproxy"
)

// protocols are the two ways to read a queue, with the host each uses.
var protocols = []struct {
	name string
	host string
	addr string // the broker port behind host, for proxies
	need func(testing.TB)
}{
	{"over AMQP", amqpURL, amqpAddr, requireAMQP},
	{"over the management API", mgmtURL, mgmtAddr, requireManagement},
}

func TestAQueueOf37MessagesReads37(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			p.need(t)
			a := newAdmin(t)
			q := a.queue("thirty-seven")
			a.publish(q, 37)
			typ := NewType()
			sc := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": p.host, "queueName": q, "value": "10"}, nil))
			r := eventuallyReads(t, sc, 37)
			if !r.Active {
				t.Errorf("37 messages with activationValue 0 read as inactive")
			}
			if m := sc.Metric(); m.Target != 10 || m.Name != scalers.MetricName(trigger(nil, nil), q) {
				t.Errorf("Metric() = %+v, want target 10 named after the queue", m)
			}
		})
	}
}

func TestUnacknowledgedMessagesCountOverHTTPUnlessExcluded(t *testing.T) {
	requireManagement(t)
	a := newAdmin(t)
	q := a.queue("unacked")
	a.publish(q, 10)
	a.holdUnacked(q, 4)
	typ := NewType()
	meta := map[string]string{"queueName": q, "value": "5"}
	cases := []struct {
		name string
		meta map[string]string
		want float64
	}{
		{"the management API counts ready and unacknowledged messages by default", scalertest.With(meta, "host", mgmtURL), 10},
		{"excludeUnacknowledged counts only ready messages", scalertest.With(meta, "host", mgmtURL, "excludeUnacknowledged", "true"), 6},
		{"AMQP counts only ready messages", scalertest.With(meta, "host", amqpURL), 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := scalertest.NewScaler(t, typ, trigger(tc.meta, nil))
			eventuallyReads(t, sc, tc.want)
		})
	}
}

func TestActivationFollowsActivationValue(t *testing.T) {
	requireManagement(t)
	a := newAdmin(t)
	q := a.queue("activation")
	a.publish(q, 5)
	empty := a.queue("activation-empty")
	typ := NewType()
	cases := []struct {
		name       string
		queue      string
		activation string
		value      float64
		active     bool
	}{
		{"5 messages above an activation value of 4 are active", q, "4", 5, true},
		{"5 messages at an activation value of 5 are not active", q, "5", 5, false},
		{"5 messages below an activation value of 10 are not active", q, "10", 5, false},
		{"an empty queue reads 0, inactive, without error", empty, "0", 0, false},
	}
	for _, p := range protocols {
		for _, tc := range cases {
			t.Run(p.name+": "+tc.name, func(t *testing.T) {
				sc := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": p.host, "queueName": tc.queue, "value": "1", "activationValue": tc.activation}, nil))
				r := eventuallyReads(t, sc, tc.value)
				if r.Active != tc.active {
					t.Errorf("Active = %v, want %v", r.Active, tc.active)
				}
				if want, _ := strconv.ParseFloat(tc.activation, 64); sc.Metric().ActivationTarget != want {
					t.Errorf("Metric().ActivationTarget = %v, want %s", sc.Metric().ActivationTarget, tc.activation)
				}
			})
		}
	}
}

func TestARegexCombinesTheMatchingQueues(t *testing.T) {
	requireManagement(t)
	a := newAdmin(t)
	prefix := uniqueName("regex")
	for i, n := range []int{2, 4, 9} {
		name := prefix + "-" + string(rune('a'+i))
		if _, err := a.ch.QueueDeclare(name, false, true, false, false, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = a.ch.QueueDelete(name, false, false, false) })
		a.publish(name, n)
	}
	a.queue("regex-decoy") // does not match: its name lacks the prefix
	typ := NewType()
	meta := map[string]string{"host": mgmtURL, "queueName": "^" + prefix + "-", "value": "5", "useRegex": "true"}
	cases := []struct {
		name string
		meta map[string]string
		want float64
	}{
		{"sum adds the matched queues (the default)", meta, 15},
		{"sum reads every page when the queues span several", scalertest.With(meta, "pageSize", "1"), 15},
		{"avg averages them", scalertest.With(meta, "operation", "avg"), 5},
		{"max takes the largest", scalertest.With(meta, "operation", "max"), 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eventuallyReads(t, scalertest.NewScaler(t, typ, trigger(tc.meta, nil)), tc.want)
		})
	}
	t.Run("a regex that matches no queue is an error, not a zero", func(t *testing.T) {
		sc := scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "queueName", "^"+prefix+"-nothing-"), nil))
		r, err := scalertest.Read(sc)
		if !errors.Is(err, ErrQueueNotFound) || r != (scalers.Reading{}) {
			t.Fatalf("Read = %+v, %v; want ErrQueueNotFound and no reading", r, err)
		}
	})
}

func TestMessageRateReadsThePublishRate(t *testing.T) {
	requireManagement(t)
	a := newAdmin(t)
	q := a.queue("rate")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	a.publishEvery(ctx, &wg, q, 50*time.Millisecond) // steadily, until the test ends
	defer wg.Wait()
	defer cancel()
	sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"host": mgmtURL, "queueName": q, "mode": "MessageRate", "value": "5"}, nil))
	scalertest.Eventually(t, 45*time.Second, "the publish rate to be above 0", func() (bool, string) {
		r, err := scalertest.Read(sc)
		if err != nil {
			return false, err.Error()
		}
		return r.Value > 0 && r.Active, ftoa(r.Value)
	})
}

func TestAMissingQueueIsAnErrorNotAZero(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			p.need(t)
			typ := NewType()
			missing := uniqueName("missing")
			sc := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": p.host, "queueName": missing, "value": "1"}, nil))
			for i := 0; i < 3; i++ { // the channel a 404 closes is replaced each time
				r, err := scalertest.Read(sc)
				if !errors.Is(err, ErrQueueNotFound) {
					t.Fatalf("read %d = %v, want ErrQueueNotFound", i, err)
				}
				if r != (scalers.Reading{}) {
					t.Fatalf("read %d returned %+v with its error", i, r)
				}
			}
			t.Run("and reads once the queue exists, on the same connection", func(t *testing.T) {
				dials := typ.dials.Load()
				a := newAdmin(t)
				if _, err := a.ch.QueueDeclare(missing, false, true, false, false, nil); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _, _ = a.ch.QueueDelete(missing, false, false, false) })
				a.publish(missing, 3)
				eventuallyReads(t, sc, 3)
				if typ.dials.Load() != dials {
					t.Errorf("a missing queue made the scaler reconnect (%d dials, want %d)", typ.dials.Load(), dials)
				}
			})
		})
	}
}

func TestAVhostThatDoesNotExistIsAnError(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			p.need(t)
			a := newAdmin(t)
			q := a.queue("vhost")
			sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"host": p.host, "queueName": q, "value": "1", "vhostName": uniqueName("no-vhost")}, nil))
			r, err := scalertest.Read(sc)
			if !errors.Is(err, ErrVhostNotFound) || r != (scalers.Reading{}) {
				t.Fatalf("Read = %+v, %v; want ErrVhostNotFound and no reading", r, err)
			}
		})
	}
}

func TestAWrongPasswordIsAnErrorThatDoesNotShowIt(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			p.need(t)
			a := newAdmin(t)
			q := a.queue("password")
			password := "Wr0ng-" + uniqueName("pw")
			for _, tc := range []struct {
				name string
				meta map[string]string
				auth map[string]string
			}{
				{"given in the TriggerAuthentication", map[string]string{"host": p.host}, map[string]string{"password": password}},
				{"given in the host URL", map[string]string{"host": strings.Replace(p.host, "guest:guest", "guest:"+password, 1)}, nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					sc := scalertest.NewScaler(t, NewType(), trigger(scalertest.With(tc.meta, "queueName", q, "value", "1"), tc.auth))
					r, err := scalertest.Read(sc)
					if err == nil {
						t.Fatalf("Read with a wrong password = %+v, no error", r)
					}
					if r != (scalers.Reading{}) {
						t.Errorf("Read returned %+v with its error", r)
					}
					if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "Wr0ng") {
						t.Errorf("error shows the password: %v", err)
					}
					if !strings.Contains(err.Error(), "credentials") {
						t.Errorf("error %q does not say the credentials were refused", err)
					}
				})
			}
		})
	}
}

func TestTheBrokerGoingAwayGivesErrorsThenRecovers(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			p.need(t)
			a := newAdmin(t)
			q := a.queue("outage")
			a.publish(q, 5)
			proxy := faultproxy.New(t, p.addr, nil)
			host := strings.Replace(p.host, p.addr, proxy.Addr(), 1)
			typ := NewType()
			sc := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": host, "queueName": q, "value": "1", "timeout": "2s"}, nil))
			eventuallyReads(t, sc, 5)

			proxy.Stop()
			scalertest.Eventually(t, 20*time.Second, "reads to fail while the broker is away", func() (bool, string) {
				r, err := scalertest.Read(sc)
				if err == nil {
					return false, "value " + ftoa(r.Value)
				}
				if r != (scalers.Reading{}) {
					t.Fatalf("a failed read returned %+v", r)
				}
				return true, err.Error()
			})
			for i := 0; i < 3; i++ {
				if r, err := scalertest.Read(sc); err == nil {
					t.Fatalf("read %d while the broker is away = %+v, no error", i, r)
				}
			}

			a.publish(q, 2) // the source changed while we could not see it
			proxy.Start(t)
			eventuallyReads(t, sc, 7)
			if n := typ.OpenConnections(); n != 1 {
				t.Errorf("after recovery %d connections are open, want 1", n)
			}
		})
	}
}

func TestAStalledBrokerTimesOutWithinTheTriggerTimeout(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			p.need(t)
			proxy := faultproxy.New(t, p.addr, nil)
			proxy.Stall(true)
			host := strings.Replace(p.host, p.addr, proxy.Addr(), 1)
			sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"host": host, "queueName": "any", "value": "1", "timeout": "300ms"}, nil))
			start := time.Now()
			r, err := scalertest.Read(sc)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Read from a silent broker = %+v, %v; want a deadline error", r, err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Read took %s with a 300ms timeout", took)
			}
		})
	}
}

func TestABrokerThatStopsAnsweringMidConnectionTimesOutThenRecovers(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			p.need(t)
			a := newAdmin(t)
			q := a.queue("silent")
			a.publish(q, 3)
			proxy := faultproxy.New(t, p.addr, nil)
			host := strings.Replace(p.host, p.addr, proxy.Addr(), 1)
			typ := NewType()
			sc := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": host, "queueName": q, "value": "1", "timeout": "500ms"}, nil))
			eventuallyReads(t, sc, 3)

			proxy.Stall(true) // the connection stays up, but nothing gets through
			start := time.Now()
			r, err := scalertest.Read(sc)
			if !errors.Is(err, context.DeadlineExceeded) || r != (scalers.Reading{}) {
				t.Fatalf("Read over a silent connection = %+v, %v; want a deadline error", r, err)
			}
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Errorf("Read took %s with a 500ms timeout", took)
			}

			proxy.Stall(false)
			eventuallyReads(t, sc, 3)
			if n := typ.OpenConnections(); n != 1 {
				t.Errorf("after recovery %d connections are open, want 1", n)
			}
		})
	}
}

func TestManyTriggersShareOneConnection(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			p.need(t)
			a := newAdmin(t)
			q := a.queue("shared")
			a.publish(q, 3)
			typ := NewType()
			var scs []scalers.Scaler
			for i := 0; i < 50; i++ {
				tr := trigger(map[string]string{"host": p.host, "queueName": q, "value": "1"}, nil)
				tr.ScaledObject, tr.Index = uniqueName("so"), i%3
				scs = append(scs, scalertest.NewScaler(t, typ, tr))
			}
			eventuallyReads(t, scs[0], 3) // the broker has counted the messages
			var wg sync.WaitGroup
			errs := make(chan error, len(scs))
			for _, sc := range scs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r, err := scalertest.Read(sc); err != nil {
						errs <- err
					} else if r.Value != 3 {
						errs <- errors.New("read " + ftoa(r.Value) + ", want 3")
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if got := typ.OpenConnections(); got != 1 {
				t.Errorf("50 triggers hold %d connections, want 1", got)
			}
			if p.host == amqpURL && typ.dials.Load() != 1 {
				t.Errorf("50 triggers dialled %d times, want 1", typ.dials.Load())
			}
			for _, sc := range scs {
				_ = sc.Close()
			}
			if got := typ.OpenConnections(); got != 0 {
				t.Errorf("after every trigger closed, %d connections are open", got)
			}
		})
	}
}

func TestIdenticalReadsInFlightShareOneQuery(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			p.need(t)
			a := newAdmin(t)
			q := a.queue("coalesce")
			if p.host == mgmtURL {
				q = a.queueWithStats("coalesce")
			}
			proxy := faultproxy.New(t, p.addr, nil)
			host := strings.Replace(p.host, p.addr, proxy.Addr(), 1)
			typ := NewType()
			var scs []scalers.Scaler
			for i := 0; i < 20; i++ {
				scs = append(scs, scalertest.NewScaler(t, typ, trigger(map[string]string{"host": host, "queueName": q, "value": "1"}, nil)))
			}
			if _, err := scalertest.Read(scs[0]); err != nil { // connect first
				t.Fatal(err)
			}
			proxy.Delay(time.Second) // each query now takes a second
			before := typ.queries.Load()
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, len(scs))
			for _, sc := range scs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if _, err := scalertest.Read(sc); err != nil {
						errs <- err
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if got := typ.queries.Load() - before; got != 1 {
				t.Errorf("20 identical concurrent reads made %d queries, want 1", got)
			}
		})
	}
}

func TestQueueDepthsReadsAWholeVhostInOneRequest(t *testing.T) {
	requireManagement(t)
	a := newAdmin(t)
	queues := []string{a.queue("depth"), a.queue("depth"), a.queue("depth")}
	for i, q := range queues {
		a.publish(q, i+1)
	}
	a.holdUnacked(queues[2], 1)
	typ := NewType()
	var probes []Probe
	for i, q := range queues {
		meta := map[string]string{"host": mgmtURL, "queueName": q, "value": "1"}
		if i == 2 {
			meta["excludeUnacknowledged"] = "true"
		}
		pr, ok, err := typ.ProbeOf(trigger(meta, nil))
		if err != nil || !ok {
			t.Fatalf("ProbeOf(%s) = %v, %v", q, ok, err)
		}
		probes = append(probes, pr)
	}
	if probes[0].Vhost != probes[1].Vhost || probes[1].Vhost != probes[2].Vhost {
		t.Fatal("triggers on one vhost of one API have different Vhosts")
	}
	if s := probes[0].Vhost.String(); strings.Contains(s, "guest") {
		t.Errorf("Vhost.String() = %q shows credentials", s)
	}
	want := []float64{1, 2, 2} // the third excludes its one unacknowledged message
	scalertest.Eventually(t, 30*time.Second, "one QueueDepths call to give every probe its value", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		before := typ.queries.Load()
		depths, err := typ.QueueDepths(ctx, probes[0].Vhost)
		if err != nil {
			return false, err.Error()
		}
		if n := typ.queries.Load() - before; n != 1 {
			t.Fatalf("QueueDepths made %d requests, want 1", n)
		}
		var saw []string
		ok := true
		for i, pr := range probes {
			v, err := pr.Value(depths)
			if err != nil {
				saw = append(saw, err.Error())
				ok = false
				continue
			}
			saw = append(saw, ftoa(v))
			ok = ok && v == want[i]
		}
		return ok, strings.Join(saw, ", ")
	})
	if got := typ.OpenConnections(); got != 0 {
		t.Errorf("with no scaler holding it, the batch client stays open (%d)", got)
	}

	t.Run("a queue missing from the vhost is an error", func(t *testing.T) {
		pr, _, _ := typ.ProbeOf(trigger(map[string]string{"host": mgmtURL, "queueName": uniqueName("absent"), "value": "1"}, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		depths, err := typ.QueueDepths(ctx, pr.Vhost)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pr.Value(depths); !errors.Is(err, ErrQueueNotFound) {
			t.Errorf("Value = %v, want ErrQueueNotFound", err)
		}
	})
	t.Run("a vhost that does not exist is an error", func(t *testing.T) {
		pr, _, _ := typ.ProbeOf(trigger(map[string]string{"host": mgmtURL, "queueName": "q", "value": "1", "vhostName": uniqueName("vh")}, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := typ.QueueDepths(ctx, pr.Vhost); !errors.Is(err, ErrVhostNotFound) {
			t.Errorf("QueueDepths = %v, want ErrVhostNotFound", err)
		}
	})
	t.Run("triggers that cannot be batched say so", func(t *testing.T) {
		for name, meta := range map[string]map[string]string{
			"an AMQP trigger":        {"host": amqpURL, "queueName": "q", "value": "1"},
			"a regex trigger":        {"host": mgmtURL, "queueName": "^q", "value": "1", "useRegex": "true"},
			"a message rate trigger": {"host": mgmtURL, "queueName": "q", "value": "1", "mode": "MessageRate"},
		} {
			if _, ok, err := typ.ProbeOf(trigger(meta, nil)); ok || err != nil {
				t.Errorf("ProbeOf(%s) = %v, %v; want not batchable", name, ok, err)
			}
		}
	})
}

func TestReadHonoursItsContextWhileConnecting(t *testing.T) {
	requireAMQP(t)
	proxy := faultproxy.New(t, amqpAddr, nil)
	proxy.Stall(true)
	sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"host": strings.Replace(amqpURL, amqpAddr, proxy.Addr(), 1), "queueName": "q", "value": "1"}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// cancel once the read is stuck in the AMQP handshake
		for proxy.Conns() == 0 {
			time.Sleep(10 * time.Millisecond) // polling for the connection, not waiting out a guess
		}
		cancel()
	}()
	start := time.Now()
	if _, err := sc.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("cancelled Read returned after %s", took)
	}
}
