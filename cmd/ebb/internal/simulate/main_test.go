// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func TestMain(m *testing.M) {
	// envtest and controller-runtime log through the root logger, which the
	// command sets; their errors come back as errors anyway.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
