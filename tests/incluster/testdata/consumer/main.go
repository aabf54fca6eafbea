// SPDX-License-Identifier: Apache-2.0

// Command consumer is the worker of tests/incluster: it consumes the queue
// QUEUE of the RabbitMQ at AMQP_URL one message at a time, acking each after
// WORK (a Go duration), and answers GET /ready with 200 once it consumes.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	url, queue := os.Getenv("AMQP_URL"), os.Getenv("QUEUE")
	if url == "" || queue == "" {
		return fmt.Errorf("AMQP_URL and QUEUE must be set")
	}
	work, err := time.ParseDuration(os.Getenv("WORK"))
	if err != nil {
		return fmt.Errorf("WORK: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	var ready atomic.Bool
	http.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not consuming yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "consuming")
	})
	go func() { log.Print(http.ListenAndServe(":8080", nil)) }()

	conn, err := amqp.Dial(url)
	if err != nil {
		return fmt.Errorf("dial RabbitMQ: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(1, 0, false); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", queue, err)
	}
	ready.Store(true)
	host, _ := os.Hostname()
	log.Printf("%s consuming %s", host, queue)
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return fmt.Errorf("the broker closed the delivery channel")
			}
			select {
			case <-time.After(work):
			case <-ctx.Done():
				_ = d.Nack(false, true)
				return nil
			}
			if err := d.Ack(false); err != nil {
				return err
			}
		}
	}
}
