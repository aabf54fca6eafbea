// SPDX-License-Identifier: Apache-2.0

// Command hello is the tests' image payload: it prints who it runs as,
// where, and its version, then exits.
package main

import (
	"fmt"
	"os"
)

var version = "none"

func main() {
	wd, _ := os.Getwd()
	fmt.Printf("hello uid=%d gid=%d wd=%s version=%s args=%q\n", os.Getuid(), os.Getgid(), wd, version, os.Args[1:])
}
