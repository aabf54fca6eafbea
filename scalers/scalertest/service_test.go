// SPDX-License-Identifier: Apache-2.0

package scalertest

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRequireService(t *testing.T) {
	t.Run("a service that accepts connections lets the test go on", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		RequireService(t, "a listener", l.Addr().String())
	})

	t.Run("outside CI a missing service skips the test", func(t *testing.T) {
		t.Setenv("CI", "")
		var sub *testing.T
		t.Run("missing", func(t *testing.T) {
			sub = t
			RequireService(t, "nothing", FreeAddr(t))
			t.Error("RequireService returned")
		})
		if !sub.Skipped() {
			t.Error("the test was not skipped")
		}
	})

	t.Run("under CI=true a missing service fails the test, naming it", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequireServiceChild$", "-test.v")
		cmd.Env = append(os.Environ(), "CI=true", "SCALERTEST_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("the child passed; want a failure:\n%s", out)
		}
		for _, want := range []string{"--- FAIL: TestRequireServiceChild", "the missing service is not reachable at"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("the child's output lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestRequireServiceChild runs in the child process of the CI case above.
func TestRequireServiceChild(t *testing.T) {
	if os.Getenv("SCALERTEST_CHILD") != "1" {
		t.Skip("run by TestRequireService")
	}
	RequireService(t, "the missing service", FreeAddr(t))
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, 5*time.Second, "the third call holds", func() (bool, string) {
		n++
		return n == 3, "call " + strconv.Itoa(n)
	})
	if n != 3 {
		t.Errorf("cond ran %d times, want 3", n)
	}
}
