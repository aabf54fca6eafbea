// SPDX-License-Identifier: Apache-2.0

package sqlscaler

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// These tests run in a synctest bubble: synctest.Wait returns once every
// other goroutine is blocked, so "the joiners are waiting for the run in
// flight" is a fact, not a guess.

func TestReadMergesIdenticalReadsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c scalers.Coalescer[float64]
		var runs atomic.Int32
		release := make(chan struct{})
		fn := func(ctx context.Context) (float64, error) {
			runs.Add(1)
			<-release
			return 7, nil
		}
		results := make(chan float64, 10)
		for i := 0; i < 10; i++ {
			go func() {
				v, _ := Read(context.Background(), &c, "k", fn)
				results <- v
			}()
		}
		synctest.Wait()
		close(release)
		for i := 0; i < 10; i++ {
			if v := <-results; v != 7 {
				t.Errorf("Read = %v, want 7", v)
			}
		}
		if n := runs.Load(); n != 1 {
			t.Errorf("ten identical reads in flight ran %d times, want 1", n)
		}
	})
}

func TestAJoinerIsNotFailedByTheLeadersCancelledContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c scalers.Coalescer[float64]
		var runs atomic.Int32
		fn := func(ctx context.Context) (float64, error) {
			if runs.Add(1) == 1 {
				<-ctx.Done() // the leader's run lasts until its caller gives up
				return 0, errors.New("canceling statement due to user request")
			}
			return 5, nil
		}
		leaderCtx, cancelLeader := context.WithCancel(context.Background())
		var leaderErr, joinerErr error
		var joinerV float64
		leaderDone, joinerDone := make(chan struct{}), make(chan struct{})
		go func() {
			_, leaderErr = Read(leaderCtx, &c, "k", fn)
			close(leaderDone)
		}()
		synctest.Wait() // the leader's run is in flight
		go func() {
			joinerV, joinerErr = Read(context.Background(), &c, "k", fn)
			close(joinerDone)
		}()
		synctest.Wait() // the joiner waits for the leader's run
		if n := runs.Load(); n != 1 {
			t.Fatalf("the joiner started a run of its own while one was in flight (%d runs)", n)
		}
		cancelLeader()
		<-leaderDone
		<-joinerDone
		if leaderErr == nil || leaderErr.Error() != "canceling statement due to user request" {
			t.Errorf("the leader's Read = %v, want its run's own error", leaderErr)
		}
		if joinerErr != nil || joinerV != 5 {
			t.Errorf("the joiner's Read = %v, %v; want 5 from a run of its own", joinerV, joinerErr)
		}
		if n := runs.Load(); n != 2 {
			t.Errorf("%d runs, want 2: the cancelled one and the joiner's", n)
		}
	})
}

func TestAJoinerWhoseOwnContextEndsGetsItsContextError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c scalers.Coalescer[float64]
		release := make(chan struct{})
		defer close(release)
		go func() {
			_, _ = Read(context.Background(), &c, "k", func(ctx context.Context) (float64, error) {
				<-release
				return 1, nil
			})
		}()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := Read(ctx, &c, "k", func(ctx context.Context) (float64, error) { return 2, nil })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Read = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestAFailedRunFailsEveryJoinerWithItsError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c scalers.Coalescer[float64]
		var runs atomic.Int32
		release := make(chan struct{})
		fn := func(ctx context.Context) (float64, error) {
			runs.Add(1)
			<-release
			return 0, errors.New("syntax error")
		}
		errs := make(chan error, 3)
		for i := 0; i < 3; i++ {
			go func() {
				_, err := Read(context.Background(), &c, "k", fn)
				errs <- err
			}()
		}
		synctest.Wait()
		close(release)
		for i := 0; i < 3; i++ {
			if err := <-errs; err == nil || err.Error() != "syntax error" {
				t.Errorf("Read = %v, want the run's error", err)
			}
		}
		if n := runs.Load(); n != 1 {
			t.Errorf("a failing run was repeated: %d runs, want 1", n)
		}
	})
}
