// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// pooledScaler reads through a lease on a shared pool, as Ebb's scalers do.
// A read signals entered, then waits for gate before it takes the pooled
// connection.
type pooledScaler struct {
	lease   *scalers.Lease[string, *int]
	entered chan struct{}
	gate    chan struct{}
}

func (s *pooledScaler) Metric() scalers.MetricSpec {
	return scalers.MetricSpec{Name: "s0-pooled", Target: 1, Type: v1alpha1.MetricTypeAverageValue}
}

func (s *pooledScaler) Read(ctx context.Context) (scalers.Reading, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.gate
	c, err := s.lease.Get(ctx)
	if err != nil {
		return scalers.Reading{}, err
	}
	return scalers.Reading{Value: float64(*c)}, nil
}

func (s *pooledScaler) Close() error {
	s.lease.Release()
	return nil
}

// An adapter read in flight when its ScaledObject is updated or deleted
// reopens nothing: the closed scaler's read fails without opening a pooled
// connection, the read is answered by the object that replaced it (or not
// found), and every connection opened is closed once the object is gone.
func TestAReadRacingAnUpdateOrDeleteLeaksNoPooledConnection(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		update   bool
	}{
		{"a read racing an update is answered by the new scalers", true},
		{"a read racing a delete finds the metric gone", false},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			var opened, closed atomic.Int32
			pool := scalers.NewPool(func(context.Context, string) (*int, error) {
				opened.Add(1)
				v := 5
				return &v, nil
			}, func(*int) { closed.Add(1) })
			so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orders"}}
			newScaler := func(gate chan struct{}) *pooledScaler {
				return &pooledScaler{lease: pool.Acquire("broker"), entered: make(chan struct{}, 1), gate: gate}
			}
			held := make(chan struct{})
			first := newScaler(held)
			l := &ScaleLoop{}
			l.Upsert(ObjectState{Object: so, Triggers: []LoopTrigger{{Name: "q", Type: "test", Scaler: first}}})

			ref := MetricRef{Namespace: "ns", ScaledObject: "orders", Metric: "s0-pooled"}
			type result struct {
				v   float64
				err error
			}
			res := make(chan result, 1)
			go func() {
				v, err := l.ExternalMetric(context.Background(), ref)
				res <- result{v, err}
			}()
			select {
			case <-first.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the read never reached the scaler")
			}
			if tc.update {
				open := make(chan struct{})
				close(open)
				l.Upsert(ObjectState{Object: so.DeepCopy(), Triggers: []LoopTrigger{{Name: "q", Type: "test", Scaler: newScaler(open)}}})
			} else {
				l.Remove(types.NamespacedName{Namespace: so.Namespace, Name: so.Name})
			}
			close(held) // the old scaler's read goes on, after its Close
			r := <-res
			switch {
			case tc.update && (r.err != nil || r.v != 5):
				t.Errorf("ExternalMetric = %v, %v; want 5 from the new scalers", r.v, r.err)
			case !tc.update && !errors.Is(r.err, ErrMetricNotFound):
				t.Errorf("ExternalMetric = %v, %v; want ErrMetricNotFound", r.v, r.err)
			}
			l.Remove(types.NamespacedName{Namespace: so.Namespace, Name: so.Name})
			if _, open := pool.Stats(); open != 0 || opened.Load() != closed.Load() {
				t.Fatalf("after the object is gone: open %d, opened %d, closed %d; want every connection closed", open, opened.Load(), closed.Load())
			}
		})
	}
}
