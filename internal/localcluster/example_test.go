// SPDX-License-Identifier: Apache-2.0

package localcluster_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ebbscale/ebb/internal/localcluster"
)

// A control plane outside a test, as `ebb demo` starts it; in a test use
// localcluster.Start(t).
func ExampleNew() {
	cp, err := localcluster.New(context.Background(), localcluster.Options{ControllerManager: true})
	if err != nil {
		log.Fatal(err)
	}
	defer cp.Stop()
	fmt.Println("API server:", cp.URL())
	fmt.Println("kubectl --kubeconfig", cp.Kubeconfig, "get ebbso -A")
}
