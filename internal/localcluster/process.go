// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// child is a component running as a child process in its own process
// group, its output appended to a log file.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
}

// startChild starts bin with args, its output appended to logPath.
func startChild(name, bin string, args []string, logPath string) (*child, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Its own process group, so that stop reaches anything it starts, and
	// killed by the kernel should the thread that started it end.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	// Pdeathsig follows the thread that forks: keep it for the whole start.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// waitFor calls ready every 100 ms until it returns nil, the process exits
// or ctx ends.
func (c *child) waitFor(ctx context.Context, what string, ready func(context.Context) error) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited before %s (%v); see %s", c.name, what, c.waitErr, c.logPath)
		case <-ctx.Done():
			return fmt.Errorf("%s: not %s: %w (last: %v); see %s", c.name, what, ctx.Err(), last, c.logPath)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM to the process group, then SIGKILL if it has not
// exited within grace, and waits for the exit.
func (c *child) stop(grace time.Duration) error {
	pgid := c.pid()
	select {
	case <-c.done:
		return nil
	default:
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s: %w", c.name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.done
	}
	// Anything left in its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}
