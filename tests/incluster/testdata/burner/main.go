// SPDX-License-Identifier: Apache-2.0

// Command burner keeps one CPU busy (as far as its cgroup's quota lets it)
// and answers GET :8080/ready: the workload of tests/incluster's cpu
// scenario, whose usage the kubelet measures and metrics-server serves.
package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		x := uint64(1)
		for ctx.Err() == nil {
			for range 1 << 20 {
				x = x*6364136223846793005 + 1442695040888963407
			}
		}
		_ = x
	}()
	srv := &http.Server{Addr: ":8080", ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		os.Exit(1)
	}
}
