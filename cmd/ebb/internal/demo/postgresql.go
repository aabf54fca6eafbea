// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// DefaultPostgreSQLURL is the PostgreSQL that --source postgresql uses.
const DefaultPostgreSQLURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// postgresSource is a table of its own on a running PostgreSQL; the trigger
// counts its rows, the consumer deletes the oldest. The connection string
// reaches the trigger through a Secret and a TriggerAuthentication.
type postgresSource struct {
	url   string
	table string

	mu   sync.Mutex // a pgx.Conn serves one query at a time
	conn *pgx.Conn
}

func newPostgresSource(ctx context.Context, url string) (_ *postgresSource, retErr error) {
	s := &postgresSource{url: url, table: unique("ebb_demo_jobs_")}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	if s.conn, err = pgx.Connect(cctx, url); err != nil {
		// pgx's connect errors name host, user and database, never the password.
		return nil, fmt.Errorf("PostgreSQL is not reachable (%v): start it, point --postgresql-url at it, or use --source kafka (embedded)", err)
	}
	defer func() {
		if retErr != nil {
			_ = s.conn.Close(context.Background())
		}
	}()
	if _, err := s.conn.Exec(cctx, "CREATE TABLE "+s.table+" (id bigserial PRIMARY KEY, payload text NOT NULL)"); err != nil {
		return nil, fmt.Errorf("create table %s: %w", s.table, err)
	}
	return s, nil
}

func (s *postgresSource) Describe() string {
	cfg := s.conn.Config()
	return fmt.Sprintf("PostgreSQL on %s:%d, database %s, table %s", cfg.Host, cfg.Port, cfg.Database, s.table)
}

func (s *postgresSource) Unit() Unit { return Unit{"row", "rows"} }

func (s *postgresSource) Trigger(ns string, target int) (v1alpha1.Trigger, []client.Object) {
	return v1alpha1.Trigger{
			Type: "postgresql",
			Name: "jobs",
			Metadata: map[string]string{
				"query":            "SELECT count(*) FROM " + s.table,
				"targetQueryValue": strconv.Itoa(target),
			},
			AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "postgresql"},
		}, []client.Object{
			&corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "postgresql"},
				StringData: map[string]string{"connection": s.url},
			},
			&v1alpha1.TriggerAuthentication{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "postgresql"},
				Spec:       v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{{Parameter: "connection", Name: "postgresql", Key: "connection"}}},
			},
		}
}

func (s *postgresSource) Produce(ctx context.Context, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.conn.Exec(ctx, "INSERT INTO "+s.table+" (payload) SELECT 'job ' || g FROM generate_series(1, $1) g", n); err != nil {
		return fmt.Errorf("insert into %s: %w", s.table, err)
	}
	return nil
}

func (s *postgresSource) Consume(ctx context.Context, n int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tag, err := s.conn.Exec(ctx, "DELETE FROM "+s.table+" WHERE id IN (SELECT id FROM "+s.table+" ORDER BY id LIMIT $1)", n)
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", s.table, err)
	}
	return int(tag.RowsAffected()), nil
}

func (s *postgresSource) Depth(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	if err := s.conn.QueryRow(ctx, "SELECT count(*) FROM "+s.table).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", s.table, err)
	}
	return n, nil
}

func (s *postgresSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = s.conn.Exec(ctx, "DROP TABLE IF EXISTS "+s.table)
	return s.conn.Close(ctx)
}
