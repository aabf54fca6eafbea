// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"errors"
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
	// Timeout bounds one read: a Go duration ("10s", "500ms") or, as in
	// KEDA, a whole number of milliseconds. 10s when unset.
	Timeout string `meta:"timeout,optional"`
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

	defaultTimeout = 10 * time.Second
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

	timeout, err := parseTimeout(c.Timeout)
	if err != nil {
		return p, scalers.KeyError("timeout", "expected %s, found %q", err, c.Timeout)
	}
	p.timeout = timeout

	scheme := ""
	if c.Host != "" {
		if err := p.parseHost(c); err != nil {
			return p, err
		}
		scheme = p.protocol
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

// parseTimeout reads a Go duration or, as KEDA does, a whole number of
// milliseconds. Empty is the default.
func parseTimeout(s string) (time.Duration, error) {
	errWant := errors.New(`a duration such as "10s" or "500ms", or a whole number of milliseconds`)
	s = strings.TrimSpace(s)
	if s == "" {
		return defaultTimeout, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms <= 0 || ms > int64(time.Hour/time.Millisecond) {
			return 0, errors.New("a whole number of milliseconds between 1 and 3600000")
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errWant
	}
	if d <= 0 || d > time.Hour {
		return 0, errors.New("a duration above 0 and at most 1h")
	}
	return d, nil
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
