// SPDX-License-Identifier: Apache-2.0

package externalscaler_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test leaves no goroutine behind: Stop ends the server and its
// streams.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
