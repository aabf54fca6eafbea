// SPDX-License-Identifier: Apache-2.0

package scale

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Memory is the process's memory after a full GC with the freed memory handed
// back to the OS.
type Memory struct {
	// RssAnon is the anonymous resident memory (heap, stacks) in bytes, from
	// /proc/self/status.
	RssAnon int64
	// HeapInuse is the Go heap in use in bytes.
	HeapInuse uint64
}

// ReadMemory collects garbage, returns freed memory to the OS and reads the
// process's memory.
func ReadMemory() (Memory, error) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err := statusField("RssAnon")
	if err != nil {
		return Memory{}, err
	}
	return Memory{RssAnon: rss, HeapInuse: ms.HeapInuse}, nil
}

// statusField reads a "kB" field of /proc/self/status, in bytes.
func statusField(name string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/self/status %s: %w", name, err)
		}
		return n * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", name)
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
