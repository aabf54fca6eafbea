// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/kafka"
	"github.com/ebbscale/ebb/scalers/prometheus"
)

var update = flag.Bool("update", false, "rewrite the golden outputs in testdata/golden")

func testRegistry(t testing.TB) *scalers.Registry {
	t.Helper()
	reg, err := scalers.NewRegistry(kafka.NewType(), prometheus.NewType())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func td(name string) string { return filepath.Join("testdata", name) }

// TestGolden replays the ScaledObjects and series in testdata and compares
// the report with testdata/golden/<name>.txt (go test -update rewrites them;
// read the diff before committing it).
func TestGolden(t *testing.T) {
	tests := map[string]Options{
		"defaults: a burst on a Kafka consumer with Ebb's and the HPA's defaults": {
			ScaledObject: td("worker.yaml"),
			Series:       []SeriesFile{{Path: td("lag.csv")}},
		},
		"compare: the same burst, defaults against a tuned configuration": {
			ScaledObject: td("worker.yaml"), Compare: td("tuned.yaml"),
			Series: []SeriesFile{{Trigger: "lag", Path: td("lag.csv")}},
		},
		"fallback: failed reads in RFC 3339 series hold the fallback count, at zero too": {
			ScaledObject: td("fallback.yaml"),
			Series:       []SeriesFile{{Trigger: "prometheus-0", Path: td("requests.csv")}},
		},
		"formula: two triggers combined by scalingModifiers, a longer run than the series": {
			ScaledObject: td("formula.yaml"),
			Series:       []SeriesFile{{Trigger: "orders", Path: td("orders.csv")}, {Trigger: "refunds", Path: td("refunds.csv")}},
			Duration:     6 * time.Minute,
		},
		"a cluster with a 5 s HPA sync, a 0.2 tolerance and the target at 3 replicas": {
			ScaledObject: td("tuned.yaml"),
			Series:       []SeriesFile{{Path: td("lag.csv")}},
			Cluster:      Cluster{SyncPeriod: 5 * time.Second, Tolerance: 0.2, InitialReplicas: 3, SyncOffset: 2 * time.Second},
		},
	}
	files := map[string]string{}
	for name, o := range tests {
		file := goldenName(name)
		if prev, dup := files[file]; dup {
			t.Fatalf("tests %q and %q share golden file %s", prev, name, file)
		}
		files[file] = name
		t.Run(name, func(t *testing.T) {
			o.Registry = testRegistry(t)
			if o.Cluster.SyncPeriod == 0 {
				o.Cluster = DefaultCluster()
			}
			var out bytes.Buffer
			if _, err := Execute(t.Context(), o, &out); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", file)
			if *update {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("report differs from %s:\n--- got\n%s\n--- want\n%s", path, out.Bytes(), want)
			}
		})
	}
}

// goldenName is the file of a test: the words before its colon, or the
// first three words.
func goldenName(test string) string {
	var b []byte
	words := 0
	for i := 0; i < len(test); i++ {
		c := test[i]
		switch {
		case c == ':':
			return string(b) + ".txt"
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c == ' ':
			words++
			if words == 4 {
				return string(b) + ".txt"
			}
			b = append(b, '-')
		}
	}
	return string(b) + ".txt"
}
