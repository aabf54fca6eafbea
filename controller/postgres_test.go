// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

func resourceQuantity(s string) resource.Quantity { return resource.MustParse(s) }

const pgURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Rows in a real PostgreSQL table bring a target from zero, and it goes back
// to zero once they are gone.
func TestPostgreSQLRowsScaleFromAndToZero(t *testing.T) {
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatalf("PostgreSQL on 127.0.0.1:5432 is required (make test checks it): %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	table := "ebb_ctl_" + randSuffix()
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id serial primary key, state text not null)`, table)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP TABLE "+table) })

	e := newEnv(t, false)
	e.startOperator("", 0)
	e.deployment("worker", 0)
	so := e.scaledObject("jobs", "worker", v1alpha1.Trigger{Type: "postgresql", Name: "pending", Metadata: map[string]string{
		"connection":       pgURL,
		"query":            fmt.Sprintf(`SELECT count(*) FROM %s WHERE state = 'pending'`, table),
		"targetQueryValue": "5",
	}})
	so.Spec.PollingInterval = ptr.To[int32](1)
	so.Spec.CooldownPeriod = ptr.To[int32](2)
	e.create(so)
	e.waitReplicas("worker", 0, 30*time.Second)

	if _, err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (state) SELECT 'pending' FROM generate_series(1, 12)`, table)); err != nil {
		t.Fatal(err)
	}
	e.waitReplicas("worker", 1, 60*time.Second)
	e.waitFor(30*time.Second, "the trigger status to show 12 rows", func() (bool, error) {
		got := e.get("jobs")
		return len(got.Status.Triggers) == 1 && got.Status.Triggers[0].Value == "12", nil
	})
	if _, err := conn.Exec(ctx, fmt.Sprintf(`UPDATE %s SET state = 'done'`, table)); err != nil {
		t.Fatal(err)
	}
	e.waitReplicas("worker", 0, 60*time.Second)
}
