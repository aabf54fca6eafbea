// SPDX-License-Identifier: Apache-2.0

package mysql

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/ebbscale/ebb/scalers"
)

// Config is a mysql trigger's metadata. The keys are KEDA's, plus timeout.
type Config struct {
	// Query must return one row with one numeric column.
	Query string `meta:"query"`
	// QueryValue is the value one replica handles; it must be above 0.
	QueryValue float64 `meta:"queryValue"`
	// ActivationQueryValue: the trigger is active when the value is above it.
	ActivationQueryValue float64 `meta:"activationQueryValue,default=0"`

	// ConnectionString is a go-sql-driver DSN,
	// user:password@tcp(host:3306)/db?tls=true. It excludes Host, Port,
	// Username and DBName; Password, when set, replaces the one in it.
	ConnectionString string `meta:"connectionString,optional,from=metadata+auth+env,secret,endpoint=custom"`

	Host     string `meta:"host,optional,from=metadata+auth+env,endpoint=host:port:3306"`
	Port     int    `meta:"port,optional,min=1,from=metadata+auth+env"`
	Username string `meta:"username,optional,from=metadata+auth+env"`
	Password string `meta:"password,optional,from=auth+env,secret"`
	DBName   string `meta:"dbName,optional,from=metadata+auth+env"`

	// Timeout bounds one read: getting a connection and running the query.
	Timeout time.Duration `meta:"timeout,default=10s,min=0.001,ms"`
}

const defaultPort = 3306

// parse reads and checks a trigger's metadata. It does no I/O. The returned
// driver config is nil only when t.AuthPending left the connection
// parameters incomplete.
func parse(t scalers.Trigger) (*Config, *driver.Config, error) {
	var c Config
	if err := scalers.ParseMetadata(t, &c); err != nil {
		return nil, nil, err
	}
	keyErr := func(key, format string, args ...any) error {
		return &scalers.FieldError{Trigger: t.String(), Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	if _, ok := t.Metadata["password"]; ok {
		return nil, nil, keyErr("password", "may only come from the TriggerAuthentication or passwordFromEnv, never from metadata (the value is not shown)")
	}
	if strings.TrimSpace(c.Query) == "" {
		return nil, nil, keyErr("query", "must not be empty; expected a query returning one row with one number")
	}
	if c.QueryValue <= 0 {
		return nil, nil, keyErr("queryValue", "expected a number above 0, found %s", strconv.FormatFloat(c.QueryValue, 'g', -1, 64))
	}
	if c.Port > 65535 {
		return nil, nil, keyErr("port", "expected a port number from 1 to 65535, found %d", c.Port)
	}
	switch {
	case c.ConnectionString != "":
		for _, k := range []struct{ key, val string }{{"host", c.Host}, {"username", c.Username}, {"dbName", c.DBName}} {
			if k.val != "" {
				return nil, nil, keyErr(k.key, `cannot be combined with key "connectionString"; put it in the connection string instead`)
			}
		}
		if c.Port != 0 {
			return nil, nil, keyErr("port", `cannot be combined with key "connectionString"; put it in the connection string instead`)
		}
	case c.Host != "":
		if c.Username == "" && !t.AuthPending {
			return nil, nil, keyErr("username", `is required with key "host"; set it in metadata, the TriggerAuthentication or usernameFromEnv`)
		}
	case !t.AuthPending:
		return nil, nil, keyErr("connectionString", `or key "host" is required: set a DSN in "connectionString" (TriggerAuthentication or connectionStringFromEnv), or "host" and "username"`)
	}
	if t.AuthPending && c.ConnectionString == "" && (c.Host == "" || c.Username == "") {
		// The rest may still come from the TriggerAuthentication or the environment.
		return &c, nil, nil
	}
	dc, key, err := c.driverConfig()
	if err != nil {
		return nil, nil, keyErr(key, "%s", err.Error())
	}
	return &c, dc, nil
}

// driverConfig is the driver's configuration for the trigger's connection
// parameters. On error it also names the key at fault.
func (c *Config) driverConfig() (*driver.Config, string, error) {
	if c.ConnectionString == "" {
		dc := driver.NewConfig()
		port := c.Port
		if port == 0 {
			port = defaultPort
		}
		dc.Net = "tcp"
		dc.Addr = net.JoinHostPort(c.Host, strconv.Itoa(port))
		dc.User = c.Username
		dc.Passwd = c.Password
		dc.DBName = c.DBName
		if err := harden(dc); err != nil {
			return nil, "host", err
		}
		return dc, "", nil
	}
	dc, err := driver.ParseDSN(c.ConnectionString)
	if err != nil {
		return nil, "connectionString", fmt.Errorf("expected a DSN such as user:password@tcp(host:3306)/db, found a value that is not shown: %s",
			scalers.RedactString(err.Error(), dsnSecrets(c.ConnectionString, c.Password)...))
	}
	if c.Password != "" {
		dc.Passwd = c.Password
	}
	if err := harden(dc); err != nil {
		return nil, "connectionString", err
	}
	return dc, "", nil
}

// harden applies Ebb's rules to a driver config: TCP only, no local files
// for LOAD DATA LOCAL INFILE (a hostile server could ask the operator for its
// own files), the driver's log lines off (errors are returned instead).
func harden(dc *driver.Config) error {
	switch dc.Net {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("expected a TCP address, tcp(host:port), found network %q", dc.Net)
	}
	if dc.MultiStatements {
		return fmt.Errorf("multiStatements=true is not allowed: the query runs alone in a read-only transaction")
	}
	if dc.AllowAllFiles {
		return fmt.Errorf("allowAllFiles=true is not allowed: it lets the database server read the operator's files")
	}
	dc.Logger = &driver.NopLogger{}
	return nil
}

// dsnSecrets are the parts of a DSN that may hold a password, for
// redaction: the whole DSN, what comes before its last '@' (user:password)
// and what follows the user's ':'.
func dsnSecrets(dsn string, password string) []string {
	secrets := []string{dsn, password}
	if i := strings.LastIndex(dsn, "@"); i > 0 {
		userinfo := dsn[:i]
		secrets = append(secrets, userinfo)
		if j := strings.Index(userinfo, ":"); j >= 0 && j+1 < len(userinfo) {
			secrets = append(secrets, userinfo[j+1:])
		}
	}
	return secrets
}
