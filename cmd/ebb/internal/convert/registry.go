package convert

import (
	"github.com/ebbscale/ebb/scalers"
	httpscaler "github.com/ebbscale/ebb/scalers/http"
	"github.com/ebbscale/ebb/scalers/kafka"
	"github.com/ebbscale/ebb/scalers/mysql"
	"github.com/ebbscale/ebb/scalers/postgresql"
	"github.com/ebbscale/ebb/scalers/prometheus"
	"github.com/ebbscale/ebb/scalers/rabbitmq"
)

// Registry returns the trigger types Ebb's operator serves, for Options. It
// lists the same types as cmd/ebb-operator/registry.go (a package main this
// one cannot import); building them does no I/O.
func Registry() (*scalers.Registry, error) {
	return scalers.NewRegistry(
		rabbitmq.NewType(),
		kafka.NewType(),
		prometheus.NewType(),
		postgresql.NewType(),
		mysql.NewType(),
		httpscaler.NewType(),
	)
}
