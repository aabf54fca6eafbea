// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// buildPause compiles this package.
func buildPause(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pause")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestPauseExitsZeroOnSIGTERMAndSIGINTAndOutlivesSIGCHLD(t *testing.T) {
	bin := buildPause(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// Until its handlers are installed a signal would kill it
			// rather than stop it; SIGCHLD must not stop it either.
			time.Sleep(time.Second)
			if err := cmd.Process.Signal(syscall.SIGCHLD); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				t.Fatalf("exited on SIGCHLD: %v", err)
			case <-time.After(200 * time.Millisecond):
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s: %v, want exit 0", sig, err)
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Signal(os.Kill)
				t.Fatalf("%s: still running after 10 s", sig)
			}
		})
	}
}

// As PID 1 of a PID namespace, pause inherits the orphans of the processes
// started in it (a container's exec) and must reap them when they exit.
func TestPauseReapsTheOrphansItInheritsAsPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a PID namespace needs root")
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	cmd := exec.Command(buildPause(t))
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Skipf("no PID namespace here: %v", err)
	}
	pid := cmd.Process.Pid
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	time.Sleep(time.Second)

	// A shell in pause's namespace starts sleep 1 and exits at once: sleep
	// becomes pause's child.
	errc := make(chan error, 1)
	go func() {
		// The thread joins pause's PID namespace for its children; it is
		// never unlocked, so it ends with this goroutine.
		runtime.LockOSThread()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/pid", pid))
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWPID); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- exec.Command("/bin/sh", "-c", "sleep 1 & exit 0").Run()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if kids := children(pid); len(kids) != 1 {
		t.Fatalf("pause has children %v, want the orphaned sleep", kids)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(children(pid)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("pause's children %v after 5 s: the orphan was not reaped", children(pid))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// children lists the processes whose parent is pid, with their state
// ("12 Z" is a zombie).
func children(pid int) []string {
	var kids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, e.Name()+" "+f[0])
		}
	}
	return kids
}
