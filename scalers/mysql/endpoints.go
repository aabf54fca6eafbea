// SPDX-License-Identifier: Apache-2.0

package mysql

import (
	"errors"

	driver "github.com/go-sql-driver/mysql"

	"github.com/ebbscale/ebb/scalers"
)

var _ scalers.EndpointLister = (*Config)(nil)

// Endpoints lists the server key "connectionString" names, host:port, read
// by the driver's own DSN parser, for a ClusterTriggerAuthentication's
// allowedEndpoints. A DSN that is not over TCP names no endpoint that can be
// allowed.
func (c *Config) Endpoints(key string) ([]string, error) {
	dc, err := driver.ParseDSN(c.ConnectionString)
	if err != nil {
		return nil, errors.New("not a DSN")
	}
	switch dc.Net {
	case "tcp", "tcp4", "tcp6":
		return []string{dc.Addr}, nil
	}
	return nil, errors.New("not over TCP")
}
