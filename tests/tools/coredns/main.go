// SPDX-License-Identifier: Apache-2.0

// Command coredns is CoreDNS with only the plugins the test cluster's DNS
// needs (bind, errors, cache, kubernetes, forward): the cluster DNS of
// tests/cluster, built by tests/tools/build.sh. It is not part of Ebb.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

func main() {
	// The order in which the plugins are set up and handle a query, as
	// CoreDNS's own plugin.cfg orders these.
	dnsserver.Directives = []string{"bind", "errors", "cache", "kubernetes", "forward"}
	coremain.Run()
}
