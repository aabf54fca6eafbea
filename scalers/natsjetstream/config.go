// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nkeys"

	"github.com/ebbscale/ebb/scalers"
)

// Config is a nats-jetstream trigger's metadata. The keys of the monitoring
// endpoint source are KEDA's, so that a KEDA trigger carries over unchanged;
// natsServerURL, its credentials and timeout are Ebb's (see
// docs/scalers/nats-jetstream.md).
type Config struct {
	// NatsServerMonitoringEndpoint is the host:port of a server's HTTP
	// monitoring endpoint, read at /jsz (KEDA's source).
	NatsServerMonitoringEndpoint string `meta:"natsServerMonitoringEndpoint,optional,from=metadata+auth+env,endpoint=hostport:8222"`
	// NatsServerURL is a NATS URL, or a comma-separated list of them, read
	// over the NATS protocol through the JetStream API. It may carry
	// credentials, so it is a secret.
	NatsServerURL string `meta:"natsServerURL,optional,from=metadata+auth+env,secret,endpoint=custom"`

	// Account is the account whose streams the monitoring endpoint reports.
	// Over natsServerURL the account is the one the credentials log in to.
	Account string `meta:"account,optional,from=metadata+auth+env"`
	// Stream and Consumer name the consumer to read.
	Stream   string `meta:"stream"`
	Consumer string `meta:"consumer"`

	// LagThreshold is the target: messages not yet processed per replica.
	LagThreshold float64 `meta:"lagThreshold,default=10"`
	// ActivationLagThreshold is the activation threshold: the trigger is
	// active when its value is above it.
	ActivationLagThreshold float64 `meta:"activationLagThreshold,default=0,min=0"`
	// UseHTTPS reads the monitoring endpoint over HTTPS.
	UseHTTPS bool `meta:"useHttps,default=false"`

	// Credentials for natsServerURL; they replace those in the URL. At most
	// one of username (with password), token and nkeySeed.
	Username string `meta:"username,optional,from=auth+env"`
	Password string `meta:"password,optional,from=auth+env,secret"`
	Token    string `meta:"token,optional,from=auth+env,secret"`
	NkeySeed string `meta:"nkeySeed,optional,from=auth+env,secret"`

	// Timeout bounds one read, connecting included.
	Timeout time.Duration `meta:"timeout,default=10s,min=0.001,ms"`
}

// Sources of the value.
const (
	sourceProtocol   = "protocol"
	sourceMonitoring = "monitoring"

	defaultAccount = "$G"
	defaultPort    = "4222"
	maxTimeout     = time.Hour
)

// plan is a validated Config, ready for reading: where, what and how.
type plan struct {
	// source is protocol or monitoring; empty when neither endpoint is known
	// yet (at admission, when it comes from the TriggerAuthentication).
	source string
	conn   connKey    // protocol
	http   monitorKey // monitoring
	// where names the endpoint in errors: schemes, hosts and ports, never
	// credentials.
	where string

	account    string // monitoring only
	stream     string
	consumer   string
	target     float64
	activation float64
	timeout    time.Duration
}

// connKey identifies one pooled NATS connection: the servers and the
// credentials. It is never logged.
type connKey struct {
	servers  string // comma-separated URLs without user information
	username string
	password string
	token    string
	nkeySeed string
}

// monitorKey identifies one pooled monitoring endpoint client.
type monitorKey struct {
	base string // scheme://host:port
}

// resolve checks the rules across keys and turns the config into a plan, or
// says which key is wrong. It is pure. deferred reports the keys whose value
// is not known yet (at admission, before the TriggerAuthentication and the
// environment are resolved); the checks that need them are skipped.
func (c *Config) resolve(deferred func(key string) bool) (plan, error) {
	p := plan{
		stream:     c.Stream,
		consumer:   c.Consumer,
		target:     c.LagThreshold,
		activation: c.ActivationLagThreshold,
		timeout:    c.Timeout,
	}
	if !deferred("stream") {
		if err := checkName(c.Stream); err != nil {
			return p, scalers.KeyError("stream", "expected a stream name: %s", err)
		}
	}
	if !deferred("consumer") {
		if err := checkName(c.Consumer); err != nil {
			return p, scalers.KeyError("consumer", "expected a consumer name (a durable name): %s", err)
		}
	}
	if !(c.LagThreshold > 0) {
		return p, scalers.KeyError("lagThreshold", "expected a number above 0 (the messages one replica handles), found %s", strconv.FormatFloat(c.LagThreshold, 'g', -1, 64))
	}
	if c.Timeout <= 0 || c.Timeout > maxTimeout {
		return p, scalers.KeyError("timeout", "expected a duration above 0 and at most 1h, found %s", c.Timeout)
	}

	hasURL, hasEndpoint := c.NatsServerURL != "", c.NatsServerMonitoringEndpoint != ""
	switch {
	case hasURL && hasEndpoint:
		return p, scalers.KeyError("natsServerURL", `cannot be combined with key "natsServerMonitoringEndpoint": give one source, the NATS protocol (natsServerURL) or the monitoring endpoint`)
	case hasEndpoint:
		p.source = sourceMonitoring
	case hasURL:
		p.source = sourceProtocol
	case deferred("natsServerURL") || deferred("natsServerMonitoringEndpoint"):
		// Known once the TriggerAuthentication or the environment is read.
	default:
		return p, scalers.KeyError("natsServerMonitoringEndpoint", `or key "natsServerURL" is required: the host:port of the server's HTTP monitoring endpoint, or a nats:// URL of the server itself`)
	}

	credentialKeys := []struct{ key, val string }{
		{"username", c.Username}, {"password", c.Password}, {"token", c.Token}, {"nkeySeed", c.NkeySeed},
	}
	switch p.source {
	case sourceMonitoring:
		for _, k := range credentialKeys {
			if k.val != "" {
				return p, scalers.KeyError(k.key, `applies only with key "natsServerURL": the monitoring endpoint takes no credentials`)
			}
		}
		endpoint, err := parseEndpoint(c.NatsServerMonitoringEndpoint)
		if err != nil {
			return p, scalers.KeyError("natsServerMonitoringEndpoint", "%s", err)
		}
		scheme := "http"
		if c.UseHTTPS {
			scheme = "https"
		}
		p.http = monitorKey{base: scheme + "://" + endpoint}
		p.where = p.http.base
		p.account = c.Account
		if p.account == "" {
			p.account = defaultAccount
		}
	case sourceProtocol:
		if c.Account != "" {
			return p, scalers.KeyError("account", `applies only with key "natsServerMonitoringEndpoint": over natsServerURL the account is the one the credentials log in to`)
		}
		if c.UseHTTPS {
			return p, scalers.KeyError("useHttps", `applies only with key "natsServerMonitoringEndpoint": for TLS to the server, use a tls:// natsServerURL`)
		}
		k, where, err := parseServers(c.NatsServerURL)
		if err != nil {
			return p, err
		}
		if err := k.applyCredentials(c); err != nil {
			return p, err
		}
		p.conn, p.where = k, where
	}
	return p, nil
}

// checkName says what is wrong with a stream or consumer name: JetStream
// names are one subject token (no '.', '*' or '>'), with no whitespace,
// control characters or path separators.
func checkName(name string) error {
	if name == "" {
		return errors.New("it is empty")
	}
	if !utf8.ValidString(name) {
		return errors.New("it is not valid UTF-8")
	}
	for _, r := range name {
		switch {
		case r == '.' || r == '*' || r == '>':
			return errors.New("it contains '.', '*' or '>', which JetStream names may not")
		case r == '/' || r == '\\':
			return errors.New("it contains a path separator ('/' or '\\'), which JetStream names may not")
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return errors.New("it contains whitespace or a control character, which JetStream names may not")
		}
	}
	return nil
}

// parseEndpoint checks a monitoring endpoint given as host:port and returns
// it with an IPv6 host in brackets. The value is not echoed: it comes from a
// field that may hold anything.
func parseEndpoint(s string) (string, error) {
	errWant := errors.New(`expected the host:port of the server's HTTP monitoring endpoint, e.g. "nats.messaging.svc:8222" (no scheme: set useHttps for HTTPS); found a value that is not shown`)
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/?#@ \t\r\n") {
		return "", errWant
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || !validPort(port) {
		return "", errWant
	}
	return net.JoinHostPort(host, port), nil
}

func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == port
}

// parseServers reads natsServerURL: one URL or a comma-separated list, each
// nats://[user:password@]host[:port] or tls://..., a bare host:port meaning
// nats://. The user information moves into the key's credentials (a user
// without a password is a token, as in the NATS clients); every URL that
// carries some must carry the same.
func parseServers(s string) (connKey, string, error) {
	badURL := func(why string) error {
		return scalers.KeyError("natsServerURL", "expected a NATS URL such as nats://nats.messaging.svc:4222 (or tls://, or a comma-separated list of them): %s; the value is not shown", why)
	}
	var k connKey
	var servers []string
	var user *url.Userinfo
	for _, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return k, "", badURL("an entry of the list is empty")
		}
		if !strings.Contains(raw, "://") {
			raw = "nats://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil {
			return k, "", badURL("an entry does not parse as a URL")
		}
		scheme := strings.ToLower(u.Scheme)
		if scheme != "nats" && scheme != "tls" {
			return k, "", badURL("the scheme is not nats or tls")
		}
		host, port := u.Hostname(), u.Port()
		if host == "" {
			return k, "", badURL("an entry has no host name")
		}
		if port == "" {
			if strings.HasSuffix(u.Host, ":") {
				return k, "", badURL("an entry has an empty port")
			}
			port = defaultPort
		}
		if !validPort(port) {
			return k, "", badURL("an entry's port is not a number from 1 to 65535")
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			return k, "", badURL("an entry has a path, query or fragment, which NATS URLs do not take")
		}
		if u.User != nil {
			if user != nil && user.String() != u.User.String() {
				return k, "", badURL("the entries carry different credentials")
			}
			user = u.User
		}
		servers = append(servers, scheme+"://"+net.JoinHostPort(host, port))
	}
	if user != nil {
		if pw, ok := user.Password(); ok {
			k.username, k.password = user.Username(), pw
		} else {
			k.token = user.Username()
		}
	}
	k.servers = strings.Join(servers, ",")
	return k, k.servers, nil
}

// applyCredentials puts the credentials keys into k over those of the URL:
// username and password each replace the URL's, token and nkeySeed replace
// everything the URL carries. username/password, token and nkeySeed exclude
// one another.
func (k *connKey) applyCredentials(c *Config) error {
	set := 0
	for _, v := range []string{c.Username + c.Password, c.Token, c.NkeySeed} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		key := "token"
		if c.NkeySeed != "" {
			key = "nkeySeed"
		}
		return scalers.KeyError(key, `cannot be combined with other credentials: give username and password, token, or nkeySeed`)
	}
	switch {
	case c.Username != "" || c.Password != "":
		if c.Username != "" {
			k.username = c.Username
		}
		if c.Password != "" {
			k.password = c.Password
		}
		if k.username == "" {
			return scalers.KeyError("password", `needs a user: set key "username" (or put the user in natsServerURL)`)
		}
		k.token = ""
	case c.Token != "":
		k.username, k.password, k.token = "", "", c.Token
	case c.NkeySeed != "":
		prefix, _, err := nkeys.DecodeSeed([]byte(c.NkeySeed))
		if err != nil || prefix != nkeys.PrefixByteUser {
			return scalers.KeyError("nkeySeed", "expected a user NKey seed (it starts with SU); found a value that is not shown")
		}
		k.username, k.password, k.token, k.nkeySeed = "", "", "", c.NkeySeed
	}
	return nil
}

// secrets are the plan's credential values, for scalers.Redact.
func (p *plan) secrets() []string {
	return []string{p.conn.password, p.conn.token, p.conn.nkeySeed}
}
