// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// source is the event source of the demo: the burst goes into it, the
// simulated consumer takes work out of it, and the ScaledObject's trigger
// reads it. Methods may be called from several goroutines.
type source interface {
	// Describe says in a few words what the source is, for the header.
	Describe() string
	// Unit names one item of work: record, message, row.
	Unit() Unit
	// Trigger is the ScaledObject's trigger, with target items per
	// replica, and the objects it needs in namespace ns (a Secret and a
	// TriggerAuthentication for credentials), created before it.
	Trigger(ns string, target int) (v1alpha1.Trigger, []client.Object)
	// Produce adds n items of work.
	Produce(ctx context.Context, n int) error
	// Consume takes up to n items of work and says how many it took.
	Consume(ctx context.Context, n int) (int, error)
	// Depth is the work waiting: the lag, the queue length, the rows.
	Depth(ctx context.Context) (int64, error)
	// Close releases the source and what the demo made in it.
	Close() error
}

// Unit names an item of work, one and many.
type Unit struct{ One, Many string }

// Of is n items: "1 record", "200 records".
func (u Unit) Of(n int) string {
	if n == 1 {
		return "1 " + u.One
	}
	return fmt.Sprintf("%d %s", n, u.Many)
}

// Sources are the values of Options.Source.
var Sources = []string{"kafka", "rabbitmq", "postgresql", "redis", "nats"}

// newSource starts or connects to the source o names.
func newSource(ctx context.Context, o Options) (source, error) {
	switch o.Source {
	case "kafka":
		return newKafkaSource(ctx, o.MaxReplicas)
	case "rabbitmq":
		return newRabbitSource(ctx, o.RabbitMQURL)
	case "postgresql":
		return newPostgresSource(ctx, o.PostgreSQLURL)
	case "redis":
		return newRedisSource(ctx, o.RedisAddress)
	case "nats":
		return newNATSSource(ctx, o.NATSURL)
	}
	return nil, fmt.Errorf("unknown source %q: want one of %v", o.Source, Sources)
}

// validSource says whether name is one of Sources.
func validSource(name string) bool { return slices.Contains(Sources, name) }

// unique is prefix and a random suffix, so that runs side by side (and the
// tests on a shared broker or database) do not meet.
func unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
