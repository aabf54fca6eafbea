// SPDX-License-Identifier: Apache-2.0

package work

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RabbitMQURLEnv is the worker's environment variable that holds the
// RabbitMQ URL (with its credentials, from a Secret): not a flag, so that
// it is not in the pod's command line.
const RabbitMQURLEnv = "EBB_DEMO_RABBITMQ_URL"

// GetMessages takes up to n messages from queue with basic.get (acknowledged
// on delivery) and says how many it took: fewer when the queue ran empty or
// ctx ended. The caller owns ch and uses it from one goroutine at a time.
func GetMessages(ctx context.Context, ch *amqp.Channel, queue string, n int) (int, error) {
	for took := range n {
		if ctx.Err() != nil {
			return took, ctx.Err()
		}
		_, ok, err := ch.Get(queue, true)
		if err != nil {
			return took, fmt.Errorf("get from %s: %w", queue, err)
		}
		if !ok {
			return took, nil
		}
	}
	return n, nil
}
