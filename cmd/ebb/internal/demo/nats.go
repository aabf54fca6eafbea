// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// DefaultNATSURL is the NATS server that --source nats uses.
const DefaultNATSURL = "nats://127.0.0.1:4222"

// natsConsumer is the durable consumer the demo's worker pulls with.
const natsConsumer = "worker"

// natsSource is a JetStream stream of its own on a running NATS server with
// a durable pull consumer; the trigger reads the consumer's pending and
// unacknowledged messages, the consumer fetches and acknowledges them.
type natsSource struct {
	url     string
	stream  string
	subject string
	nc      *nats.Conn
	js      jetstream.JetStream
	cons    jetstream.Consumer
}

func newNATSSource(ctx context.Context, url string) (_ *natsSource, retErr error) {
	name := unique("ebb-demo-")
	s := &natsSource{url: url, stream: name, subject: name + ".jobs"}
	var err error
	if s.nc, err = nats.Connect(url, nats.Timeout(5*time.Second), nats.Name("ebb demo")); err != nil {
		// nats.go's connect errors name no URL and so no credentials.
		return nil, fmt.Errorf("NATS is not reachable (%v): start it with JetStream, point --nats-url at it, or use --source kafka (embedded)", err)
	}
	defer func() {
		if retErr != nil {
			s.nc.Close()
		}
	}()
	if s.js, err = jetstream.New(s.nc); err != nil {
		return nil, fmt.Errorf("JetStream: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.js.CreateStream(cctx, jetstream.StreamConfig{Name: s.stream, Subjects: []string{s.subject}, Storage: jetstream.MemoryStorage}); err != nil {
		return nil, fmt.Errorf("create stream %s (is JetStream enabled?): %w", s.stream, err)
	}
	if s.cons, err = s.js.CreateOrUpdateConsumer(cctx, s.stream, jetstream.ConsumerConfig{Durable: natsConsumer, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		_ = s.js.DeleteStream(context.Background(), s.stream)
		return nil, fmt.Errorf("create consumer %s on %s: %w", natsConsumer, s.stream, err)
	}
	return s, nil
}

func (s *natsSource) Describe() string {
	return fmt.Sprintf("NATS JetStream on %s, stream %s, consumer %s", s.nc.ConnectedUrlRedacted(), s.stream, natsConsumer)
}

func (s *natsSource) Unit() Unit { return Unit{"message", "messages"} }

// Trigger reads the consumer over the NATS protocol; the demo's server has
// no credentials.
func (s *natsSource) Trigger(_ string, target int) (v1alpha1.Trigger, []client.Object) {
	return v1alpha1.Trigger{
		Type: "nats-jetstream",
		Name: "jobs",
		Metadata: map[string]string{
			"natsServerURL": s.url,
			"stream":        s.stream,
			"consumer":      natsConsumer,
			"lagThreshold":  strconv.Itoa(target),
		},
	}, nil
}

func (s *natsSource) Produce(ctx context.Context, n int) error {
	for i := range n {
		if _, err := s.js.PublishAsync(s.subject, []byte("job "+strconv.Itoa(i+1))); err != nil {
			return fmt.Errorf("publish to %s: %w", s.subject, err)
		}
	}
	select {
	case <-s.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *natsSource) Consume(ctx context.Context, n int) (int, error) {
	batch, err := s.cons.FetchNoWait(n)
	if err != nil {
		return 0, fmt.Errorf("fetch from %s: %w", s.stream, err)
	}
	took := 0
	for msg := range batch.Messages() {
		if err := msg.Ack(); err != nil {
			return took, fmt.Errorf("ack on %s: %w", s.stream, err)
		}
		took++
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return took, fmt.Errorf("fetch from %s: %w", s.stream, err)
	}
	return took, ctx.Err()
}

func (s *natsSource) Depth(ctx context.Context) (int64, error) {
	info, err := s.cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("consumer %s on %s: %w", natsConsumer, s.stream, err)
	}
	return int64(info.NumPending) + int64(info.NumAckPending), nil
}

func (s *natsSource) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.js.DeleteStream(ctx, s.stream)
	s.nc.Close()
	return err
}
