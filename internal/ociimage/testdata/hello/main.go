// SPDX-License-Identifier: Apache-2.0

// Command hello is the tests' image payload: it prints who it runs as,
// where, and its version, then exits. "hello orphan" starts a child that
// outlives it by a second (to check that a pod's PID 1 reaps orphans).
package main

import (
	"fmt"
	"os"
	"time"
)

var version = "none"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "orphan":
			p, err := os.StartProcess("/proc/self/exe", []string{os.Args[0], "sleep"}, &os.ProcAttr{})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Printf("left child %d\n", p.Pid)
			return
		case "sleep":
			time.Sleep(time.Second)
			return
		}
	}
	wd, _ := os.Getwd()
	tmp := "writable"
	if err := os.WriteFile("/tmp/hello", []byte("x"), 0o600); err != nil {
		tmp = err.Error()
	}
	ca, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	fmt.Printf("hello uid=%d gid=%d wd=%s /tmp=%s ca-bundle=%d bytes version=%s args=%q\n",
		os.Getuid(), os.Getgid(), wd, tmp, len(ca), version, os.Args[1:])
}
