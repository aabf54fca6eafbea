// SPDX-License-Identifier: Apache-2.0

// Command ebb-kube is the local control plane in one program: etcd,
// kube-apiserver and the controllers a control plane without a node needs
// (controllers.go) of Kubernetes v1.37.2, chosen by the name it is run under:
// etcd, kube-apiserver or kube-controller-manager (tests/tools/build.sh links
// the three names to it).
// One binary is linked once, and it shares the Go build cache with the ebb CLI
// (same module, same versions, same flags), so a first `make demo` compiles
// client-go, apimachinery and the API types once instead of twice.
//
// It is a development tool of internal/localcluster, never shipped in an
// image.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // the apiserver validates CronJob time zones

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go's metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // the version metric
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	switch name := filepath.Base(os.Args[0]); name {
	case "etcd":
		etcdmain.Main(os.Args)
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(controllerManager(os.Args[1:]))
	default:
		fmt.Fprintf(os.Stderr, "ebb-kube: run as etcd, kube-apiserver or kube-controller-manager (a link to this binary), not %q\n", name)
		os.Exit(2)
	}
}
