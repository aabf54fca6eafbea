// SPDX-License-Identifier: Apache-2.0

// Command worker is the worker of `ebb demo --cluster`: each pod of
// Deployment demo/worker runs it and consumes from the demo's source at
// --rate items per second, with the demo's own consumer code (package work).
//
//	worker --source kafka --broker 10.244.0.1:40123 --topic jobs --group worker --rate 10
//	worker --source rabbitmq --queue ebb-demo-1a2b3c4d --rate 10   (URL in $EBB_DEMO_RABBITMQ_URL)
//
// It answers GET /readyz on --listen with 200 once connected to the source
// (the pod's readiness probe), logs what it took every second, and on
// SIGTERM leaves (the Kafka group at once) and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ebbscale/ebb/cmd/ebb/internal/demo/work"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

type config struct {
	source, broker, topic, group, queue, listen string
	rate                                        float64
}

func run(ctx context.Context, args []string) error {
	var c config
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.StringVar(&c.source, "source", "kafka", "kafka or rabbitmq")
	fs.StringVar(&c.broker, "broker", "", "the Kafka broker's address (kafka)")
	fs.StringVar(&c.topic, "topic", "jobs", "the topic (kafka)")
	fs.StringVar(&c.group, "group", "worker", "the consumer group (kafka)")
	fs.StringVar(&c.queue, "queue", "", "the queue (rabbitmq; the URL is in $"+work.RabbitMQURLEnv+")")
	fs.Float64Var(&c.rate, "rate", 10, "items consumed per second")
	fs.StringVar(&c.listen, "listen", ":8080", "address of GET /readyz")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !(c.rate > 0) {
		return fmt.Errorf("--rate %v: want above 0", c.rate)
	}

	var ready atomic.Bool
	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if !ready.Load() {
				http.Error(w, "not connected to the source yet", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	take, closeSource, err := connect(ctx, c)
	if err != nil {
		return err
	}
	defer closeSource()
	ready.Store(true)
	fmt.Fprintf(os.Stderr, "worker: consuming from %s at %g items/s\n", c.source, c.rate)

	var taken atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		logEvery(ctx, time.Second, &taken)
	}()
	work.Pace(ctx, 200*time.Millisecond,
		func(context.Context) (float64, bool) { return c.rate, true },
		func(ctx context.Context, n int) (int, error) {
			took, err := take(ctx, n)
			taken.Add(int64(took))
			return took, err
		},
		func(err error) { fmt.Fprintln(os.Stderr, "worker:", err) })
	wg.Wait()
	fmt.Fprintf(os.Stderr, "worker: stopping after %d items\n", taken.Load())
	return nil
}

// connect connects to the source c names and returns what takes n items.
func connect(ctx context.Context, c config) (take func(context.Context, int) (int, error), closeSource func(), err error) {
	switch c.source {
	case "kafka":
		if c.broker == "" {
			return nil, nil, errors.New("--broker: want the Kafka broker's address")
		}
		g, err := work.NewKafkaGroup(ctx, work.KafkaGroupOptions{Broker: c.broker, Topic: c.topic, Group: c.group})
		if err != nil {
			return nil, nil, err
		}
		return g.Take, g.Close, nil
	case "rabbitmq":
		url := os.Getenv(work.RabbitMQURLEnv)
		if url == "" || c.queue == "" {
			return nil, nil, fmt.Errorf("rabbitmq: want --queue and $%s", work.RabbitMQURLEnv)
		}
		conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
		if err != nil {
			var ae *amqp.Error
			if errors.As(err, &ae) {
				return nil, nil, fmt.Errorf("RabbitMQ: %s", ae.Reason) // not the URL: it holds the password
			}
			return nil, nil, errors.New("RabbitMQ is not reachable")
		}
		ch, err := conn.Channel()
		if err != nil {
			_ = conn.Close()
			return nil, nil, fmt.Errorf("RabbitMQ channel: %w", err)
		}
		take := func(ctx context.Context, n int) (int, error) { return work.GetMessages(ctx, ch, c.queue, n) }
		return take, func() { _ = conn.Close() }, nil
	}
	return nil, nil, fmt.Errorf("--source %q: want kafka or rabbitmq", c.source)
}

// logEvery logs the items taken in each period in which some were.
func logEvery(ctx context.Context, every time.Duration, taken *atomic.Int64) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if n := taken.Load(); n != last {
				fmt.Fprintf(os.Stderr, "worker: took %d (%d in all)\n", n-last, n)
				last = n
			}
		}
	}
}
