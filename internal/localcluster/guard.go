// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
)

// guardScript reads process group ids, one a line, until it reads "disarm"
// (a clean stop: it exits) or its standard input closes because the process
// that started it died (it kills the groups). It runs in its own process
// group so that a Ctrl-C in the terminal does not end it before its work.
const guardScript = `pids=""
while read -r line; do
	case "$line" in
	disarm) exit 0 ;;
	*) pids="$pids $line" ;;
	esac
done
for p in $pids; do kill -s KILL -- "-$p" 2>/dev/null || kill -s KILL "$p" 2>/dev/null; done
exit 0
`

// guard kills the processes it watches if the process that owns them dies
// without stopping them, e.g. on a go test -timeout panic or a SIGKILL.
type guard struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	in  io.WriteCloser
}

func startGuard() (*guard, error) {
	cmd := exec.Command("/bin/sh", "-c", guardScript)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start the process guard: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the process guard: %w", err)
	}
	return &guard{cmd: cmd, in: in}, nil
}

// watch adds process groups to kill should this process die.
func (g *guard) watch(pgids ...int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.in == nil {
		return nil
	}
	for _, p := range pgids {
		if _, err := fmt.Fprintf(g.in, "%d\n", p); err != nil {
			return fmt.Errorf("tell the process guard about %d: %w", p, err)
		}
	}
	return nil
}

// disarm ends the guard without killing anything: the caller has stopped
// the processes itself.
func (g *guard) disarm() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.in == nil {
		return nil
	}
	_, werr := io.WriteString(g.in, "disarm\n")
	cerr := g.in.Close()
	g.in = nil
	if err := g.cmd.Wait(); err != nil {
		return fmt.Errorf("process guard: %w", err)
	}
	if werr != nil {
		return werr
	}
	return cerr
}

// Processes lists the ids of the running processes whose command line
// mentions dir: for a control plane's Dir, its etcd, kube-apiserver and
// kube-controller-manager. Tests use it to prove nothing was left behind.
func Processes(dir string) ([]int, error) {
	dir = filepath.Clean(dir) + string(filepath.Separator)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		if bytes.Contains(cmdline, []byte(dir)) {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids, nil
}
