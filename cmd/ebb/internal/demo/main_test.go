// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's root logger, which main
	// sets in the command; its errors come back as errors anyway.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
