// SPDX-License-Identifier: Apache-2.0

// Command ebb-kube-node is the local node's Kubernetes programs in one binary:
// kubelet, kube-scheduler, kube-proxy and the whole kube-controller-manager
// (a node needs its service-account, endpoint-slice, node-lifecycle and other
// controllers) of Kubernetes v1.37.2, chosen by the name it is run under
// (tests/tools/build.sh links kubelet, kube-scheduler and kube-proxy to it;
// ebb-kube's kube-controller-manager hands over to it when asked for a
// controller it lacks). It shares the Go build cache with ebb-kube and the
// ebb CLI.
//
// It is a development tool of internal/localcluster, never shipped in an
// image.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go's metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // the version metric
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	switch name := filepath.Base(os.Args[0]); name {
	case "kubelet":
		os.Exit(cli.Run(kubelet.NewKubeletCommand(context.Background())))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-proxy":
		os.Exit(cli.Run(proxy.NewProxyCommand()))
	default:
		fmt.Fprintf(os.Stderr, "ebb-kube-node: run as kubelet, kube-scheduler, kube-proxy or kube-controller-manager (a link to this binary), not %q\n", name)
		os.Exit(2)
	}
}
