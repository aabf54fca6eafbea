// SPDX-License-Identifier: Apache-2.0

// Package triggers wires every trigger type Ebb serves into a registry: the
// operator serves them, and the CLI's convert and simulate check and build
// triggers with them. It is the one place that lists them.
package triggers

import (
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/cron"
	"github.com/ebbscale/ebb/scalers/external"
	httpscaler "github.com/ebbscale/ebb/scalers/http"
	"github.com/ebbscale/ebb/scalers/kafka"
	"github.com/ebbscale/ebb/scalers/metricsapi"
	"github.com/ebbscale/ebb/scalers/mysql"
	"github.com/ebbscale/ebb/scalers/natsjetstream"
	"github.com/ebbscale/ebb/scalers/postgresql"
	"github.com/ebbscale/ebb/scalers/prometheus"
	"github.com/ebbscale/ebb/scalers/rabbitmq"
	"github.com/ebbscale/ebb/scalers/redis"
	"github.com/ebbscale/ebb/scalers/resource"
	"github.com/ebbscale/ebb/scalers/workload"
	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
)

// Registry returns a new registry of every trigger type Ebb serves, whose
// scalers connect only to the destinations egress allows. Building it does
// no I/O: the types connect when their scalers first read. Triggers that
// read the cluster itself (kubernetes-workload) validate and describe their
// metric but fail to read: the CLI's registry.
func Registry(egress *scalers.Egress) (*scalers.Registry, error) {
	return RegistryWithCluster(egress, Cluster{})
}

// Cluster says how the operator's triggers reach the cluster.
type Cluster struct {
	// Kube reads the pods of kubernetes-workload triggers.
	Kube kubernetes.Interface
	// NoWorkload refuses kubernetes-workload triggers: the operator may
	// not read pods (chart value kubernetesWorkload.enabled=false).
	NoWorkload bool
}

// RegistryWithCluster is Registry for the operator, whose
// kubernetes-workload triggers read pods as c says.
func RegistryWithCluster(egress *scalers.Egress, c Cluster) (*scalers.Registry, error) {
	work := workload.NewType(c.Kube)
	if c.NoWorkload {
		work = workload.NewDisabledType()
	}
	externalPull, externalPush := external.NewTypesWithEgress(egress)
	cpu, memory := resource.NewTypes()
	kafkaType := kafka.NewTypeWithEgress(egress)
	return scalers.NewRegistry(append([]scalers.Type{
		rabbitmq.NewTypeWithEgress(egress),
		kafkaType,
		kafkaType.Alias(kafka.ApacheKafka),
		prometheus.NewTypeWithEgress(egress),
		metricsapi.NewTypeWithEgress(egress),
		postgresql.NewTypeWithEgress(egress),
		mysql.NewTypeWithEgress(egress),
		httpscaler.NewTypeWithEgress(egress),
		natsjetstream.NewTypeWithEgress(egress),
		cron.NewType(),
		externalPull,
		externalPush,
		cpu,
		memory,
		work,
	}, redis.NewAllTypesWithEgress(egress).All()...)...)
}

// SetLogger routes the log lines that a trigger type's client library
// prints by itself (go-redis's) to log, so that a program's output is its
// own. Call it once, before the first read.
func SetLogger(log logr.Logger) {
	redis.SetLogger(log.WithName("redis"))
}
