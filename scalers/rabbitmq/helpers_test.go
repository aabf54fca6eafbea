// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// The RabbitMQ the tests read: the broker on its standard loopback ports.
const (
	amqpAddr = "127.0.0.1:5672"
	mgmtAddr = "127.0.0.1:15672"
	amqpURL  = "amqp://guest:guest@" + amqpAddr + "/"
	mgmtURL  = "http://guest:guest@" + mgmtAddr + "/"
)

// requireAMQP stops the test when RabbitMQ's AMQP port is closed
// (scalertest.RequireService).
func requireAMQP(t testing.TB) {
	t.Helper()
	scalertest.RequireService(t, "RabbitMQ", amqpAddr)
}

// requireManagement stops the test when RabbitMQ or its management API
// (the rabbitmq_management plugin, which tests/services.sh enables) is not
// reachable.
func requireManagement(t testing.TB) {
	t.Helper()
	requireAMQP(t)
	scalertest.RequireService(t, "the RabbitMQ management API (rabbitmq_management)", mgmtAddr)
}

// uniqueName returns prefix followed by a random suffix.
func uniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "ebb-test-" + prefix + "-" + hex.EncodeToString(b)
}

// admin is the tests' own AMQP connection, for declaring queues and
// publishing; it does not go through the scaler.
type admin struct {
	t    testing.TB
	conn *amqp.Connection
	ch   *amqp.Channel
}

func newAdmin(t testing.TB) *admin {
	t.Helper()
	requireAMQP(t)
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatalf("test admin connection: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("test admin channel: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("test admin confirms: %v", err)
	}
	a := &admin{t: t, conn: conn, ch: ch}
	t.Cleanup(func() { _ = conn.Close() })
	return a
}

// queue declares a fresh queue, deleted when the test ends.
func (a *admin) queue(prefix string) string {
	a.t.Helper()
	name := uniqueName(prefix)
	if _, err := a.ch.QueueDeclare(name, false, false, false, false, nil); err != nil {
		a.t.Fatalf("declaring queue %s: %v", name, err)
	}
	a.t.Cleanup(func() {
		conn, err := amqp.Dial(amqpURL)
		if err != nil {
			return
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(name, false, false, false)
		}
	})
	return name
}

// queueWithStats declares a fresh queue and waits until the management API
// reports its message counts (it does every few seconds), so that a read
// over HTTP right away gives a value rather than ErrNoStatistics.
func (a *admin) queueWithStats(prefix string) string {
	a.t.Helper()
	requireManagement(a.t)
	q := a.queue(prefix)
	scalertest.Eventually(a.t, 30*time.Second, "the management API to report queue "+q, func() (bool, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+mgmtAddr+"/api/queues/%2F/"+q, nil)
		req.SetBasicAuth("guest", "guest")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return false, err.Error()
		}
		_, ok := body["messages"]
		return ok, resp.Status
	})
	return q
}

// publish puts n messages on queue and waits for the broker's confirms.
func (a *admin) publish(queue string, n int) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var confirms []*amqp.DeferredConfirmation
	for i := 0; i < n; i++ {
		dc, err := a.ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{Body: []byte("m")})
		if err != nil {
			a.t.Fatalf("publishing to %s: %v", queue, err)
		}
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		ok, err := dc.WaitContext(ctx)
		if err != nil || !ok {
			a.t.Fatalf("publish to %s not confirmed: ok=%v err=%v", queue, ok, err)
		}
	}
}

// publishEvery publishes one message to queue every interval until ctx
// ends, on a goroutine wg waits for.
func (a *admin) publishEvery(ctx context.Context, wg *sync.WaitGroup, queue string, every time.Duration) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = a.ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{Body: []byte("m")})
			}
		}
	}()
}

// holdUnacked takes n messages from queue on a channel of its own and does
// not acknowledge them until the test ends.
func (a *admin) holdUnacked(queue string, n int) {
	a.t.Helper()
	ch, err := a.conn.Channel()
	if err != nil {
		a.t.Fatalf("consumer channel: %v", err)
	}
	a.t.Cleanup(func() { _ = ch.Close() })
	if err := ch.Qos(n, 0, false); err != nil {
		a.t.Fatalf("qos: %v", err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		a.t.Fatalf("consuming %s: %v", queue, err)
	}
	timeout := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-deliveries:
		case <-timeout:
			a.t.Fatalf("received %d of %d deliveries from %s", i, n, queue)
		}
	}
}

// trigger builds a rabbitmq trigger from metadata and auth parameters.
func trigger(meta, auth map[string]string) scalers.Trigger {
	return scalers.Trigger{
		Namespace: "default", ScaledObject: "worker", Index: 0, Name: "queue", Type: "rabbitmq",
		Metadata: meta, AuthParams: auth,
	}
}

// eventuallyReads waits until sc reads want.
func eventuallyReads(t testing.TB, sc scalers.Scaler, want float64) scalers.Reading {
	t.Helper()
	var last scalers.Reading
	scalertest.Eventually(t, 30*time.Second, "the scaler to read "+ftoa(want), func() (bool, string) {
		r, err := scalertest.Read(sc)
		if err != nil {
			return false, "error " + err.Error()
		}
		last = r
		return r.Value == want, "value " + ftoa(r.Value)
	})
	return last
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
