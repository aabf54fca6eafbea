// SPDX-License-Identifier: Apache-2.0

package controlplane_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ebbscale/ebb/tests/controlplane"
)

// A control plane outside a test, as `ebb demo` starts it; in a test use
// controlplane.Start(t).
func ExampleNew() {
	cp, err := controlplane.New(context.Background(), controlplane.Options{ControllerManager: true})
	if err != nil {
		log.Fatal(err)
	}
	defer cp.Stop()
	fmt.Println("API server:", cp.URL())
	fmt.Println("kubectl --kubeconfig", cp.Kubeconfig, "get ebbso -A")
}
