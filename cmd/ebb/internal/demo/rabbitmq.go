// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/cmd/ebb/internal/demo/work"
)

// DefaultRabbitMQURL is the RabbitMQ that --source rabbitmq uses.
const DefaultRabbitMQURL = "amqp://guest:guest@127.0.0.1:5672/"

// rabbitSource is a queue of its own on a running RabbitMQ. The broker's
// URL reaches the trigger through a Secret and a TriggerAuthentication, as
// credentials should; the consumer takes messages with basic.get.
type rabbitSource struct {
	url   string
	queue string

	mu   sync.Mutex // the channel is used by one goroutine at a time
	conn *amqp.Connection
	ch   *amqp.Channel
}

func newRabbitSource(ctx context.Context, url string) (_ *rabbitSource, retErr error) {
	s := &rabbitSource{url: url, queue: unique("ebb-demo-")}
	cfg := amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)}
	var err error
	if s.conn, err = amqp.DialConfig(url, cfg); err != nil {
		return nil, fmt.Errorf("RabbitMQ is not reachable (%v): start it, point --rabbitmq-url at it, or use --source kafka (embedded)", redactAMQP(err))
	}
	defer func() {
		if retErr != nil {
			_ = s.conn.Close()
		}
	}()
	if s.ch, err = s.conn.Channel(); err != nil {
		return nil, fmt.Errorf("RabbitMQ channel: %w", err)
	}
	if _, err := s.ch.QueueDeclare(s.queue, false, false, false, false, nil); err != nil {
		return nil, fmt.Errorf("declare queue %s: %w", s.queue, err)
	}
	return s, nil
}

// redactAMQP keeps the URL, and so the password, out of an error.
func redactAMQP(err error) string {
	if e, ok := err.(*amqp.Error); ok {
		return e.Reason
	}
	return err.Error()
}

func (s *rabbitSource) Describe() string {
	return fmt.Sprintf("RabbitMQ on %s, queue %s", s.conn.RemoteAddr(), s.queue)
}

func (s *rabbitSource) Unit() Unit { return Unit{"message", "messages"} }

func (s *rabbitSource) Trigger(ns string, target int) (v1alpha1.Trigger, []client.Object) {
	return v1alpha1.Trigger{
			Type:              "rabbitmq",
			Name:              "work",
			Metadata:          map[string]string{"queueName": s.queue, "mode": "QueueLength", "value": strconv.Itoa(target)},
			AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "rabbitmq"},
		}, []client.Object{
			&corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rabbitmq"},
				StringData: map[string]string{"host": s.url},
			},
			&v1alpha1.TriggerAuthentication{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rabbitmq"},
				Spec:       v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{{Parameter: "host", Name: "rabbitmq", Key: "host"}}},
			},
		}
}

func (s *rabbitSource) Produce(ctx context.Context, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range n {
		if err := s.ch.PublishWithContext(ctx, "", s.queue, false, false, amqp.Publishing{Body: fmt.Appendf(nil, "job %d", i)}); err != nil {
			return fmt.Errorf("publish to %s: %w", s.queue, err)
		}
	}
	return nil
}

func (s *rabbitSource) Consume(ctx context.Context, n int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return work.GetMessages(ctx, s.ch, s.queue, n)
}

func (s *rabbitSource) Depth(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.ch.QueueDeclarePassive(s.queue, false, false, false, false, nil)
	if err != nil {
		return 0, fmt.Errorf("read queue %s: %w", s.queue, err)
	}
	return int64(q.Messages), nil
}

func (s *rabbitSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, err := s.conn.Channel(); err == nil {
		_, _ = ch.QueueDelete(s.queue, false, false, false)
	}
	return s.conn.Close()
}
