// SPDX-License-Identifier: Apache-2.0

package triggers

import (
	"slices"
	"testing"

	"github.com/ebbscale/ebb/scalers"
)

// Every registered trigger type's config struct has well-formed meta tags, so
// a tag typo fails here and not in a user's cluster.
func TestEveryRegisteredScalerHasWellFormedTags(t *testing.T) {
	reg, err := Registry(scalers.DefaultEgress())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"apache-kafka", "cpu", "cron", "external", "external-push", "http", "kafka", "kubernetes-workload", "memory", "metrics-api", "mysql", "nats-jetstream", "postgresql", "prometheus", "rabbitmq", "redis", "redis-cluster", "redis-cluster-streams", "redis-sentinel", "redis-sentinel-streams", "redis-streams"}
	if got := reg.Names(); !slices.Equal(got, want) {
		t.Errorf("registered types = %v, want %v", got, want)
	}
	for _, name := range reg.Names() {
		t.Run(name, func(t *testing.T) {
			typ, _ := reg.Lookup(name)
			if err := scalers.CheckTags(typ.Config()); err != nil {
				t.Error(err)
			}
		})
	}
}

// A timeout key means the same in every trigger type: a bare number is
// milliseconds (docs/scalers.md, "timeout").
func TestEveryTimeoutKeyReadsABareNumberAsMilliseconds(t *testing.T) {
	reg, err := Registry(scalers.DefaultEgress())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range reg.Names() {
		typ, _ := reg.Lookup(name)
		keys, err := scalers.Keys(typ.Config())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.Key == "timeout" && !k.Milliseconds {
				t.Errorf("%s: key timeout reads a bare number as seconds; tag it ms", name)
			}
		}
	}
}
