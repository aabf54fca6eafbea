// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"strings"

	"github.com/ebbscale/ebb/scalers"
)

var _ scalers.EndpointLister = (*Config)(nil)

// Endpoints lists the servers key "natsServerURL" names, one URL each
// (nats:// or tls://, with the port), read by the scaler's own parser, for a
// ClusterTriggerAuthentication's allowedEndpoints.
func (c *Config) Endpoints(key string) ([]string, error) {
	k, _, err := parseServers(c.NatsServerURL)
	if err != nil {
		return nil, err
	}
	return strings.Split(k.servers, ","), nil
}
