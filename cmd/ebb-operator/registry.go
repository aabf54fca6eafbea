package main

import (
	"github.com/ebbscale/ebb/scalers"
	httpscaler "github.com/ebbscale/ebb/scalers/http"
	"github.com/ebbscale/ebb/scalers/kafka"
	"github.com/ebbscale/ebb/scalers/mysql"
	"github.com/ebbscale/ebb/scalers/postgresql"
	"github.com/ebbscale/ebb/scalers/prometheus"
	"github.com/ebbscale/ebb/scalers/rabbitmq"
)

// newRegistry wires every trigger type Ebb serves. It is the one place that
// lists them.
func newRegistry() (*scalers.Registry, error) {
	return scalers.NewRegistry(
		rabbitmq.NewType(),
		kafka.NewType(),
		prometheus.NewType(),
		postgresql.NewType(),
		mysql.NewType(),
		httpscaler.NewType(),
	)
}
