// SPDX-License-Identifier: Apache-2.0

// Command backend is the HTTP workload of tests/incluster: it answers every
// request on :8080 with "backend <pod name> <path>".
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	host, _ := os.Hostname()
	log.Fatal(http.ListenAndServe(":8080", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend %s %s\n", host, r.URL.Path)
	})))
}
