// SPDX-License-Identifier: Apache-2.0

package faults_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers/scalertest"
	"github.com/ebbscale/ebb/scalers/sqlscaler/sqltest"
	"github.com/ebbscale/ebb/tests/faultproxy"
)

const (
	rabbitAddr   = "127.0.0.1:5672"
	postgresAddr = "127.0.0.1:5432"
)

// rabbitQueue is a queue, unique to the test, on the machine's RabbitMQ. The
// test publishes and purges directly; the operator reads it through Proxy,
// which makes the broker go away and come back for the operator only.
type rabbitQueue struct {
	t     *testing.T
	ch    *amqp.Channel
	name  string
	Proxy *faultproxy.Proxy
}

func newRabbitQueue(t *testing.T) *rabbitQueue {
	t.Helper()
	scalertest.RequireService(t, "RabbitMQ", rabbitAddr)
	conn, err := amqp.Dial("amqp://guest:guest@" + rabbitAddr + "/")
	if err != nil {
		t.Fatalf("RabbitMQ at %s (see tests/services.sh): %v", rabbitAddr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q := &rabbitQueue{t: t, ch: ch, name: "ebb-faults-" + randSuffix(), Proxy: faultproxy.New(t, rabbitAddr, nil)}
	if _, err := ch.QueueDeclare(q.name, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(q.name, false, false, false)
		}
	})
	return q
}

// trigger is a rabbitmq trigger on the queue, 10 messages a replica, the
// broker's address (through the proxy) in a Secret named by a
// TriggerAuthentication, as credentials should be.
func (q *rabbitQueue) trigger(s *scenario) v1alpha1.Trigger {
	q.t.Helper()
	secret := "rabbitmq-" + q.name
	s.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: secret},
		StringData: map[string]string{"host": "amqp://guest:guest@" + q.Proxy.Addr() + "/"},
	})
	s.create(&v1alpha1.TriggerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: secret},
		Spec:       v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{{Parameter: "host", Name: secret, Key: "host"}}},
	})
	return v1alpha1.Trigger{
		Type:              "rabbitmq",
		Metadata:          map[string]string{"queueName": q.name, "mode": "QueueLength", "value": "10"},
		AuthenticationRef: &v1alpha1.AuthenticationRef{Name: secret},
	}
}

func (q *rabbitQueue) publish(n int) {
	q.t.Helper()
	ctx, cancel := context.WithTimeout(q.t.Context(), 30*time.Second)
	defer cancel()
	for i := range n {
		if err := q.ch.PublishWithContext(ctx, "", q.name, false, false, amqp.Publishing{Body: fmt.Appendf(nil, "job %d", i)}); err != nil {
			q.t.Fatal(err)
		}
	}
}

func (q *rabbitQueue) purge() {
	q.t.Helper()
	if _, err := q.ch.QueuePurge(q.name, false); err != nil {
		q.t.Fatal(err)
	}
}

// pgTable is a table, unique to the test, on the machine's PostgreSQL
// (trust authentication for user postgres, database test). The operator
// reads its row count through Proxy, whose Counter counts the statements.
type pgTable struct {
	t     *testing.T
	conn  *pgx.Conn
	name  string
	Proxy *faultproxy.Proxy
}

func newPGTable(t *testing.T) *pgTable {
	t.Helper()
	scalertest.RequireService(t, "PostgreSQL", postgresAddr)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable")
	if err != nil {
		t.Fatalf("PostgreSQL at %s (see tests/services.sh): %v", postgresAddr, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	p := &pgTable{t: t, conn: conn, name: "ebb_faults_" + randSuffix(), Proxy: sqltest.NewProxy(t, postgresAddr, sqltest.PostgresCounter)}
	p.exec("CREATE TABLE " + p.name + " (id serial PRIMARY KEY)")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "DROP TABLE IF EXISTS "+p.name)
	})
	return p
}

func (p *pgTable) exec(sql string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.t.Context(), 10*time.Second)
	defer cancel()
	if _, err := p.conn.Exec(ctx, sql); err != nil {
		p.t.Fatalf("%s: %v", sql, err)
	}
}

// trigger counts the table's rows through the proxy, 10 rows a replica.
func (p *pgTable) triggerSpec() v1alpha1.Trigger {
	return v1alpha1.Trigger{
		Type: "postgresql",
		Metadata: map[string]string{
			"host": "127.0.0.1", "port": p.Proxy.Port(), "userName": "postgres", "dbName": "test", "sslmode": "disable",
			"query":            "SELECT count(*) FROM " + p.name,
			"targetQueryValue": "10",
		},
	}
}

func (p *pgTable) insert(n int) {
	p.exec(fmt.Sprintf("INSERT INTO %s SELECT FROM generate_series(1, %d)", p.name, n))
}

func (p *pgTable) drain() { p.exec("DELETE FROM " + p.name) }
