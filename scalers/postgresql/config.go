// SPDX-License-Identifier: Apache-2.0

package postgresql

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ebbscale/ebb/scalers"
)

// Config is a postgresql trigger's metadata. The keys are KEDA's, plus
// timeout.
type Config struct {
	// Query must return one row with one numeric column.
	Query string `meta:"query"`
	// TargetQueryValue is the value one replica handles; it must be above 0.
	TargetQueryValue float64 `meta:"targetQueryValue"`
	// ActivationTargetQueryValue: the trigger is active when the value is above it.
	ActivationTargetQueryValue float64 `meta:"activationTargetQueryValue,default=0"`

	// Connection is a full connection string, a URL
	// (postgres://user:password@host:5432/db?sslmode=require) or keyword/value
	// pairs (host=... user=...). It excludes Host, Port, UserName, DBName and
	// SSLMode; Password, when set, replaces the one in it.
	Connection string `meta:"connection,optional,from=metadata+auth+env,secret,endpoint=custom"`

	Host     string `meta:"host,optional,from=metadata+auth+env,endpoint=host:port:5432"`
	Port     int    `meta:"port,optional,min=1,from=metadata+auth+env"`
	UserName string `meta:"userName,optional,from=metadata+auth+env"`
	Password string `meta:"password,optional,from=auth+env,secret"`
	DBName   string `meta:"dbName,optional,from=metadata+auth+env"`
	SSLMode  string `meta:"sslmode,optional,enum=disable|allow|prefer|require|verify-ca|verify-full,from=metadata+auth+env"`

	// Timeout bounds one read: getting a connection and running the query.
	Timeout time.Duration `meta:"timeout,default=10s,min=0.001,ms"`
}

const (
	defaultPort    = 5432
	defaultSSLMode = "prefer"
)

// allowedConnKeys are the keys a connection string may hold. Left out on
// purpose: the keys that make the operator read its own files (passfile,
// service, servicefile, sslkey, sslcert, sslpassword) and pgx's pool and
// protocol settings, which Ebb owns.
var allowedConnKeys = []string{
	"host", "port", "dbname", "database", "user", "password",
	"sslmode", "ssl", "sslrootcert", "sslsni", "sslnegotiation",
	"connect_timeout", "target_session_attrs", "channel_binding", "require_auth",
	"application_name", "options", "search_path", "statement_timeout", "lock_timeout", "TimeZone", "timezone",
}

// parse reads and checks a trigger's metadata. It does no network I/O (a
// connection string naming an sslrootcert reads that file).
func parse(t scalers.Trigger) (*Config, *pgx.ConnConfig, error) {
	var c Config
	if err := scalers.ParseMetadata(t, &c); err != nil {
		return nil, nil, err
	}
	if err := rejectMetadataPassword(t); err != nil {
		return nil, nil, err
	}
	keyErr := func(key, format string, args ...any) error {
		return &scalers.FieldError{Trigger: t.String(), Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(c.Query) == "" {
		return nil, nil, keyErr("query", "must not be empty; expected a query returning one row with one number")
	}
	if c.TargetQueryValue <= 0 {
		return nil, nil, keyErr("targetQueryValue", "expected a number above 0, found %s", strconv.FormatFloat(c.TargetQueryValue, 'g', -1, 64))
	}
	if c.Port > 65535 {
		return nil, nil, keyErr("port", "expected a port number from 1 to 65535, found %d", c.Port)
	}
	switch {
	case c.Connection != "":
		for _, k := range []struct{ key, val string }{{"host", c.Host}, {"userName", c.UserName}, {"dbName", c.DBName}, {"sslmode", c.SSLMode}} {
			if k.val != "" {
				return nil, nil, keyErr(k.key, `cannot be combined with key "connection"; put it in the connection string instead`)
			}
		}
		if c.Port != 0 {
			return nil, nil, keyErr("port", `cannot be combined with key "connection"; put it in the connection string instead`)
		}
	case c.Host != "":
		if c.UserName == "" && !t.AuthPending {
			return nil, nil, keyErr("userName", `is required with key "host"; set it in metadata, the TriggerAuthentication or userNameFromEnv`)
		}
		if c.DBName == "" && !t.AuthPending {
			return nil, nil, keyErr("dbName", `is required with key "host"; set it in metadata, the TriggerAuthentication or dbNameFromEnv`)
		}
	case !t.AuthPending:
		return nil, nil, keyErr("connection", `or key "host" is required: set a connection string in "connection" (TriggerAuthentication or connectionFromEnv), or "host", "userName" and "dbName"`)
	}
	if t.AuthPending && c.Connection == "" && (c.Host == "" || c.UserName == "" || c.DBName == "") {
		// The rest may still come from the TriggerAuthentication or the environment.
		return &c, nil, nil
	}
	cc, err := c.connConfig()
	if err != nil {
		return nil, nil, keyErr(err.key, "%s", err.msg)
	}
	return &c, cc, nil
}

// rejectMetadataPassword refuses a password written into the trigger's
// metadata, where everyone who can read the ScaledObject sees it.
func rejectMetadataPassword(t scalers.Trigger) error {
	if _, ok := t.Metadata["password"]; ok {
		return &scalers.FieldError{Trigger: t.String(), Key: "password", Msg: "may only come from the TriggerAuthentication or passwordFromEnv, never from metadata (the value is not shown)"}
	}
	return nil
}

type connErr struct{ key, msg string }

// connString is the connection string the trigger's keys describe, without
// the password (which is set on the parsed config).
func (c *Config) connString() string {
	if c.Connection != "" {
		return c.Connection
	}
	port := c.Port
	if port == 0 {
		port = defaultPort
	}
	mode := c.SSLMode
	if mode == "" {
		mode = defaultSSLMode
	}
	return "host=" + quoteValue(c.Host) + " port=" + strconv.Itoa(port) + " user=" + quoteValue(c.UserName) +
		" dbname=" + quoteValue(c.DBName) + " sslmode=" + mode
}

// quoteValue quotes a keyword/value connection string value.
func quoteValue(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// connConfig parses the connection parameters.
func (c *Config) connConfig() (*pgx.ConnConfig, *connErr) {
	key := "host"
	if c.Connection != "" {
		key = "connection"
	}
	cc, err := pgx.ParseConfigWithOptions(c.connString(), pgx.ParseConfigOptions{
		ParseConfigOptions: pgconn.ParseConfigOptions{ConnStringAllowedKeys: allowedConnKeys},
	})
	if err != nil {
		return nil, &connErr{key, "expected a PostgreSQL connection string, a URL (postgres://user:password@host:5432/db?sslmode=require) or key=value pairs (host=... port=5432 user=... dbname=...), found a value that is not shown: " + parseProblem(err, c.Connection, c.Password)}
	}
	if c.Password != "" {
		cc.Password = c.Password
	}
	return cc, nil
}

var (
	notAllowedKey = regexp.MustCompile(`connection string key "(.*)" is not in ConnStringAllowedKeys`)
	plainKey      = regexp.MustCompile(`^[A-Za-z_]{1,64}$`)
)

// parseProblem is what pgx says is wrong with a connection string, without the
// connection string itself. pgx's parse errors quote the string (with
// passwords masked on a best-effort basis), so only the part after the quote
// is kept, and nested errors (which may quote a URL) are dropped.
func parseProblem(err error, secrets ...string) string {
	msg := err.Error()
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			msg = msg[i+3:]
		}
		if pce.Unwrap() != nil {
			if i := strings.LastIndex(msg, " ("); i >= 0 {
				msg = msg[:i]
			}
		}
		if m := notAllowedKey.FindStringSubmatch(msg); m != nil {
			// A malformed string can make part of a password look like a
			// key: only plain key names are shown.
			if plainKey.MatchString(m[1]) {
				msg = fmt.Sprintf("key %q is not allowed in a connection string for Ebb", m[1])
			} else {
				msg = "it holds a key that is not allowed in a connection string for Ebb (not shown: it is not a plain key name)"
			}
		}
	}
	return scalers.RedactString(msg, secrets...)
}
