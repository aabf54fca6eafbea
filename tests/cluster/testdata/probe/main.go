// SPDX-License-Identifier: Apache-2.0

// Command probe is the test cluster's workload image: "probe serve ADDR"
// answers every HTTP request with "ok <hostname>"; "probe get URL" fetches
// URL, printing the body, and exits 0 on a 200 (it retries for up to 30 s,
// while DNS and the Service's rules settle).
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: probe serve ADDR | probe get URL")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2])
	case "get":
		os.Exit(get(os.Args[2]))
	default:
		fmt.Fprintln(os.Stderr, "usage: probe serve ADDR | probe get URL")
		os.Exit(2)
	}
}

func serve(addr string) {
	host, _ := os.Hostname()
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "ok %s\n", host)
		})}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func get(url string) int {
	client := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Printf("%s", body)
				return 0
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		time.Sleep(500 * time.Millisecond)
	}
}
