// SPDX-License-Identifier: Apache-2.0

package postgresql

import (
	"errors"
	"net"
	"strconv"

	"github.com/ebbscale/ebb/scalers"
)

var _ scalers.EndpointLister = (*Config)(nil)

// Endpoints lists the servers key "connection" names, host:port each (its
// fallbacks included), read by pgx's own parser, for a
// ClusterTriggerAuthentication's allowedEndpoints. A Unix socket path is
// returned as it is, and so matches no pattern.
func (c *Config) Endpoints(key string) ([]string, error) {
	cc, cerr := c.connConfig()
	if cerr != nil {
		return nil, errors.New(cerr.msg)
	}
	eps := []string{net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))}
	for _, f := range cc.Fallbacks {
		eps = append(eps, net.JoinHostPort(f.Host, strconv.Itoa(int(f.Port))))
	}
	return eps, nil
}
