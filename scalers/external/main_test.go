// SPDX-License-Identifier: Apache-2.0

package external

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test leaves no goroutine behind: closed scalers close their
// connections, stopped notifies end their streams.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
