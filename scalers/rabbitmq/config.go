// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"crypto/tls"
	"net/url"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ebbscale/ebb/scalers"
)

// Config is a rabbitmq trigger's metadata. The keys are KEDA's, so that a
// KEDA trigger carries over unchanged (see docs/scalers/rabbitmq.md for the
// few differences).
type Config struct {
	// Host is an AMQP URL (amqp://user:pass@host:5672/vhost) or a management
	// API URL (http://user:pass@host:15672/vhost). It usually carries
	// credentials, so it is a secret.
	Host string `meta:"host,from=metadata+auth+env,secret,endpoint=url"`
	// Username and Password, from the TriggerAuthentication only, replace the
	// user information of Host.
	Username string `meta:"username,optional,from=auth,secret"`
	Password string `meta:"password,optional,from=auth,secret"`

	// QueueName is the queue to read, or with UseRegex a regular expression
	// over queue names.
	QueueName string `meta:"queueName"`
	// VhostName replaces the vhost given in Host's path.
	VhostName string `meta:"vhostName,optional"`

	// Mode is what is read: QueueLength (messages in the queue), or, from
	// the management API only, MessageRate (messages published per
	// second), DeliverGetRate (messages delivered or fetched per second),
	// PublishedToDeliveredRatio (the first rate over the second) or
	// ExpectedQueueConsumptionTime (seconds to deliver the messages in the
	// queue at the current delivery rate). See valueOf.
	Mode string `meta:"mode,default=QueueLength,enum=QueueLength|MessageRate|DeliverGetRate|PublishedToDeliveredRatio|ExpectedQueueConsumptionTime"`
	// Value is the target: messages (or messages per second) per replica.
	Value float64 `meta:"value,optional"`
	// QueueLength is KEDA's older name for Value in QueueLength mode.
	QueueLength float64 `meta:"queueLength,optional"`
	// ActivationValue is the activation threshold: the trigger is active
	// when its value is above it.
	ActivationValue float64 `meta:"activationValue,default=0,min=0"`

	// Protocol is amqp, http, or auto: taken from Host's scheme.
	Protocol string `meta:"protocol,default=auto,enum=auto|amqp|http"`
	// UseRegex reads every queue whose name matches QueueName and combines
	// their values with Operation (management API only).
	UseRegex bool `meta:"useRegex,default=false"`
	// Operation combines the matched queues' values: sum (when unset), avg
	// or max. It requires UseRegex.
	Operation string `meta:"operation,optional,enum=sum|avg|max"`
	// ExcludeUnacknowledged counts only ready messages, leaving out those
	// delivered and not yet acknowledged (management API only).
	ExcludeUnacknowledged bool `meta:"excludeUnacknowledged,default=false"`
	// PageSize is how many queues one management API page holds when
	// UseRegex lists them.
	PageSize int `meta:"pageSize,default=100,min=1"`
	// The TLS keys, as KEDA's TriggerAuthentication gives them: tls
	// (enable or disable) and the PEM material ca, cert, key and
	// keyPassword; unsafeSsl skips the check of the broker's certificate.
	// They apply to an amqps:// or https:// host.
	UnsafeSsl   bool   `meta:"unsafeSsl,default=false,from=metadata+auth"`
	TLS         string `meta:"tls,optional,enum=enable|disable,from=auth"`
	CA          string `meta:"ca,optional,from=auth"`
	Cert        string `meta:"cert,optional,from=auth"`
	Key         string `meta:"key,optional,from=auth,secret"`
	KeyPassword string `meta:"keyPassword,optional,from=auth,secret"`

	// Timeout bounds one read: a Go duration ("10s", "500ms") or, as in
	// KEDA, a number of milliseconds; at most 1h.
	Timeout time.Duration `meta:"timeout,default=10s,ms"`
}

// Protocols and modes.
const (
	protocolAMQP = "amqp"
	protocolHTTP = "http"

	modeQueueLength     = "QueueLength"
	modeMessageRate     = "MessageRate"
	modeDeliverGetRate  = "DeliverGetRate"
	modeRatio           = "PublishedToDeliveredRatio"
	modeConsumptionTime = "ExpectedQueueConsumptionTime"

	opSum = "sum"
	opAvg = "avg"
	opMax = "max"

	defaultTimeout = 10 * time.Second // a dial without a deadline of its own
	maxTimeout     = time.Hour
)

// plan is a validated Config, ready for reading: where, what and how.
type plan struct {
	protocol string // amqp or http; empty when Host is not known yet
	amqp     amqpKey
	http     httpKey
	vhost    string
	// where names the endpoint in errors: scheme, host and port, no
	// credentials.
	where string

	queue          string
	mode           string
	useRegex       bool
	operation      string
	excludeUnacked bool
	pageSize       int
	timeout        time.Duration
	target         float64
	activation     float64
}

// resolve checks the rules across keys and turns the config into a plan, or
// says which key is wrong. It is pure. deferred reports the keys whose value
// is not known yet (at admission, before the TriggerAuthentication and the
// environment are resolved); the checks that need them are skipped, and with
// Host deferred plan.protocol may be empty.
//
// Config deliberately does not implement scalers.Validator: ParseMetadata
// runs a Validator without saying which keys it deferred, so these checks
// would reject a queueNameFromEnv at admission.
func (c *Config) resolve(deferred func(key string) bool) (plan, error) {
	p := plan{
		queue:          c.QueueName,
		mode:           c.Mode,
		useRegex:       c.UseRegex,
		operation:      c.Operation,
		excludeUnacked: c.ExcludeUnacknowledged,
		pageSize:       c.PageSize,
		activation:     c.ActivationValue,
	}
	if p.queue == "" && !deferred("queueName") {
		return p, scalers.KeyError("queueName", "is empty; expected a queue name (or, with useRegex, a regular expression)")
	}

	switch {
	case c.Value != 0 && c.QueueLength != 0:
		return p, scalers.KeyError("queueLength", "cannot be set together with value; queueLength is KEDA's older name for value, use value")
	case c.QueueLength != 0:
		p.target = c.QueueLength
	default:
		p.target = c.Value
	}
	if p.target < 0 || (p.target == 0 && !deferred("value") && !deferred("queueLength")) {
		return p, scalers.KeyError("value", "must be set to a number above 0 (the messages, or messages per second, one replica handles); found %g or no value", p.target)
	}

	if c.Timeout <= 0 || c.Timeout > maxTimeout {
		return p, scalers.KeyError("timeout", "expected a duration above 0 and at most 1h, found %s", c.Timeout)
	}
	p.timeout = c.Timeout

	scheme := ""
	if c.Host != "" {
		if err := p.parseHost(c); err != nil {
			return p, err
		}
		scheme = p.protocol
	}
	if err := p.resolveTLS(c); err != nil {
		return p, err
	}
	switch c.Protocol {
	case protocolAMQP, protocolHTTP:
		if scheme != "" && scheme != c.Protocol {
			return p, scalers.KeyError("protocol", "is %s, but host is a %s URL; use an %s host or leave protocol to auto", c.Protocol, describeScheme(scheme), expectedScheme(c.Protocol))
		}
		p.protocol = c.Protocol
	}

	if p.protocol == protocolAMQP {
		switch {
		case c.Mode != modeQueueLength:
			return p, scalers.KeyError("mode", "is %s, which needs the management API's message statistics; use an http(s):// management URL as host", c.Mode)
		case c.UseRegex:
			return p, scalers.KeyError("useRegex", "needs the management API; use an http(s):// management URL as host")
		case c.ExcludeUnacknowledged:
			return p, scalers.KeyError("excludeUnacknowledged", "needs the management API (over AMQP only ready messages are counted anyway); use an http(s):// management URL as host")
		}
	}
	if c.Operation != "" && !c.UseRegex {
		return p, scalers.KeyError("operation", "combines the queues a regular expression matches; it needs useRegex: \"true\"")
	}
	if p.operation == "" {
		p.operation = opSum
	}
	return p, nil
}

// tlsOpts are a connection's TLS settings besides the host: the trust
// roots, the client certificate and whether to check the broker's
// certificate at all. They are part of the pool keys.
type tlsOpts struct {
	unsafe                     bool
	ca, cert, key, keyPassword string
}

// config builds the TLS client configuration for serverName. Its errors are
// KeyErrors that never show a key or a password.
func (o tlsOpts) config(serverName string) (*tls.Config, error) {
	return scalers.ClientTLSFor(scalers.TLSKeys{CA: o.ca, Cert: o.cert, Key: o.key, KeyPassword: o.keyPassword}, serverName, o.unsafe)
}

func (o tlsOpts) id() string {
	return strings.Join([]string{strconv.FormatBool(o.unsafe), o.ca, o.cert, o.key, o.keyPassword}, "\x00")
}

// resolveTLS checks the TLS keys against the host's scheme and puts them in
// the pool key. With the host not known yet (at admission) only the PEM
// material is checked.
func (p *plan) resolveTLS(c *Config) error {
	o := tlsOpts{unsafe: c.UnsafeSsl, ca: c.CA, cert: c.Cert, key: c.Key, keyPassword: c.KeyPassword}
	if p.protocol != "" {
		secure := p.amqp.tls || strings.HasPrefix(p.http.base, "https://")
		switch {
		case c.TLS == "enable" && !secure:
			return scalers.KeyError("tls", "is enable, but host is not an amqps:// or https:// URL; TLS needs one of those")
		case c.TLS == "disable" && secure:
			return scalers.KeyError("tls", "is disable, but host is an amqps:// or https:// URL")
		case !secure:
			// unsafeSsl alone is let through: KEDA's own example sets it
			// with an amqp:// host, where it has nothing to apply to.
			for _, kv := range [][2]string{{"ca", c.CA}, {"cert", c.Cert}, {"key", c.Key}, {"keyPassword", c.KeyPassword}} {
				if kv[1] != "" {
					return scalers.KeyError(kv[0], "is set but host is not an amqps:// or https:// URL, so there is no TLS to apply it to")
				}
			}
		}
	}
	if _, err := o.config(""); err != nil {
		return err
	}
	p.amqp.tlsOpts, p.http.tlsOpts = o, o
	return nil
}

// parseHost fills the plan's protocol, pool key, vhost and where from Host,
// Username, Password and VhostName.
func (p *plan) parseHost(c *Config) error {
	badHost := scalers.KeyError("host", "expected an amqp://, amqps://, http:// or https:// URL with a host name; found a value that is not shown")
	u, err := url.Parse(c.Host)
	if err != nil || u.Host == "" {
		return badHost
	}
	switch strings.ToLower(u.Scheme) {
	case "amqp", "amqps":
		uri, err := amqp.ParseURI(c.Host)
		if err != nil {
			return badHost
		}
		k := amqpKey{
			tls:      uri.Scheme == "amqps",
			addr:     joinHostPort(uri.Host, uri.Port),
			vhost:    uri.Vhost,
			username: uri.Username,
			password: uri.Password,
		}
		if c.Username != "" {
			k.username = c.Username
		}
		if c.Password != "" {
			k.password = c.Password
		}
		if c.VhostName != "" {
			k.vhost = c.VhostName
		}
		p.protocol, p.amqp, p.vhost = protocolAMQP, k, k.vhost
		p.where = uri.Scheme + "://" + k.addr
	case "http", "https":
		prefix, vhost, err := splitManagementPath(u)
		if err != nil {
			return badHost
		}
		k := httpKey{base: strings.ToLower(u.Scheme) + "://" + u.Host + prefix}
		if u.User != nil {
			k.username = u.User.Username()
			k.password, _ = u.User.Password()
		}
		if c.Username != "" {
			k.username = c.Username
		}
		if c.Password != "" {
			k.password = c.Password
		}
		if c.VhostName != "" {
			vhost = c.VhostName
		}
		p.protocol, p.http, p.vhost = protocolHTTP, k, vhost
		p.where = k.base
	default:
		return badHost
	}
	return nil
}

// splitManagementPath reads a management URL's path as <prefix>/<vhost>: the
// last segment is the vhost ("/" when it is empty), the segments before it a
// path prefix in front of /api (for a management API behind a proxy).
func splitManagementPath(u *url.URL) (prefix, vhost string, err error) {
	path := u.EscapedPath()
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return "", "/", nil
	}
	prefix, last := path[:i], path[i+1:]
	vhost, err = url.PathUnescape(last)
	if err != nil {
		return "", "", err
	}
	if vhost == "" {
		vhost = "/"
	}
	return prefix, vhost, nil
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

func describeScheme(protocol string) string {
	if protocol == protocolAMQP {
		return "AMQP (amqp://, amqps://)"
	}
	return "management API (http://, https://)"
}

func expectedScheme(protocol string) string {
	if protocol == protocolAMQP {
		return "amqp:// or amqps://"
	}
	return "http:// or https://"
}
