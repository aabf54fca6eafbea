// SPDX-License-Identifier: Apache-2.0

// Package triggers wires every trigger type Ebb serves into a registry: the
// operator serves them, and the CLI's convert and simulate check and build
// triggers with them. It is the one place that lists them.
package triggers

import (
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/cron"
	httpscaler "github.com/ebbscale/ebb/scalers/http"
	"github.com/ebbscale/ebb/scalers/kafka"
	"github.com/ebbscale/ebb/scalers/mysql"
	"github.com/ebbscale/ebb/scalers/natsjetstream"
	"github.com/ebbscale/ebb/scalers/postgresql"
	"github.com/ebbscale/ebb/scalers/prometheus"
	"github.com/ebbscale/ebb/scalers/rabbitmq"
	"github.com/ebbscale/ebb/scalers/redis"
	"github.com/ebbscale/ebb/scalers/resource"
	"github.com/go-logr/logr"
)

// Registry returns a new registry of every trigger type Ebb serves, whose
// scalers connect only to the destinations egress allows. Building it does
// no I/O: the types connect when their scalers first read.
func Registry(egress *scalers.Egress) (*scalers.Registry, error) {
	cpu, memory := resource.NewTypes()
	return scalers.NewRegistry(append([]scalers.Type{
		rabbitmq.NewTypeWithEgress(egress),
		kafka.NewTypeWithEgress(egress),
		prometheus.NewTypeWithEgress(egress),
		postgresql.NewTypeWithEgress(egress),
		mysql.NewTypeWithEgress(egress),
		httpscaler.NewTypeWithEgress(egress),
		natsjetstream.NewTypeWithEgress(egress),
		cron.NewType(),
		cpu,
		memory,
	}, redis.NewAllTypesWithEgress(egress).All()...)...)
}

// SetLogger routes the log lines that a trigger type's client library
// prints by itself (go-redis's) to log, so that a program's output is its
// own. Call it once, before the first read.
func SetLogger(log logr.Logger) {
	redis.SetLogger(log.WithName("redis"))
}
