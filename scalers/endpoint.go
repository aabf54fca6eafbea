// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// EndpointPin limits where a trigger's credentials may be sent. It is set
// on a Trigger whose credentials come from a ClusterTriggerAuthentication
// with spec.allowedEndpoints, and ParseMetadata checks every key tagged
// `endpoint` against it, at admission and when the scaler is built.
type EndpointPin struct {
	// Owner names the pin's source in errors, e.g.
	// `ClusterTriggerAuthentication "shared"`.
	Owner string
	// Allowed are the patterns of spec.allowedEndpoints (see
	// EndpointAllowed).
	Allowed []string
	// Trusted are the authentication parameters that came from the owner's
	// own Secrets and ConfigMaps: an endpoint read from them is pinned by
	// definition. Parameters the owner reads from the tenant's environment
	// (spec.env) are not trusted.
	Trusted map[string]bool
}

// EndpointLister is implemented by a config struct with keys tagged
// `endpoint=custom`: a connection string only the driver's own parser
// reads reliably (a PostgreSQL connection string, a MySQL DSN, a list of
// NATS URLs). Endpoints returns the endpoints the key's value names, each
// "scheme://host:port" or "host:port", from the same parser the scaler
// connects with, so that the check and the connection cannot disagree.
// ParseMetadata calls it on the filled config, and only for a pinned
// trigger.
type EndpointLister interface {
	Endpoints(key string) ([]string, error)
}

// endpointForm is how a key tagged `endpoint` names its endpoints.
type endpointForm struct {
	kind        string // url, hostport, host or custom
	portKey     string // host: the key that holds the port
	defaultPort string // hostport and host: the port when none is given
}

func parseEndpointForm(v string) (endpointForm, error) {
	parts := strings.Split(v, ":")
	f := endpointForm{kind: parts[0]}
	switch {
	case (f.kind == "url" || f.kind == "custom") && len(parts) == 1:
	case f.kind == "hostport" && len(parts) == 2 && validPort(parts[1]):
		f.defaultPort = parts[1]
	case f.kind == "host" && len(parts) == 3 && parts[1] != "" && validPort(parts[2]):
		f.portKey, f.defaultPort = parts[1], parts[2]
	default:
		return f, fmt.Errorf("endpoint=%q: expected url, custom, hostport:<default port> or host:<port key>:<default port>", v)
	}
	return f, nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// endpoint is where a connection goes: a URL (scheme set) or a host and
// port.
type endpoint struct {
	scheme, host, port, path string
}

// schemePorts are the default ports of the schemes Ebb's scalers speak.
var schemePorts = map[string]string{
	"http": "80", "https": "443", "amqp": "5672", "amqps": "5671",
	"nats": "4222", "tls": "4222", "postgres": "5432", "postgresql": "5432",
	"mysql": "3306", "redis": "6379", "rediss": "6379",
}

// normHost lowercases a host name and drops a trailing dot and IPv6
// brackets.
func normHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// validHost says whether h (normalized) is an IP address or a plain host
// name: letters, digits, '-', '_' and '.', so that no list separator or
// other syntax rides along into a driver that reads more into it.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// parseEndpointURL reads "scheme://host[:port]/path". The path must hold no
// dot-segments (a server would resolve them, escaping a path prefix).
func parseEndpointURL(s string) (endpoint, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return endpoint{}, fmt.Errorf("not a URL with a host")
	}
	e := endpoint{scheme: strings.ToLower(u.Scheme), host: normHost(u.Hostname()), port: u.Port(), path: u.Path}
	if !validHost(e.host) || (e.port != "" && !validPort(e.port)) {
		return endpoint{}, fmt.Errorf("not a URL with a host")
	}
	if e.port == "" {
		e.port = schemePorts[e.scheme]
	}
	if e.path != "" && strings.TrimSuffix(path.Clean(e.path), "/") != strings.TrimSuffix(e.path, "/") {
		return endpoint{}, fmt.Errorf("its path is not in clean form (dot-segments or repeated slashes)")
	}
	return e, nil
}

// parseHostPort reads "host[:port]", defaultPort when the port is missing.
func parseHostPort(s, defaultPort string) (endpoint, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "://") {
		return parseEndpointURL(s)
	}
	if strings.ContainsAny(s, "/?#@ \t\r\n") || s == "" {
		return endpoint{}, fmt.Errorf("not a host:port")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a host name, or a bracketed IPv6 address.
		if strings.Contains(strings.Trim(s, "[]"), ":") && !strings.HasPrefix(s, "[") {
			return endpoint{}, fmt.Errorf("not a host:port")
		}
		host, port = s, defaultPort
	}
	host = normHost(host)
	if !validHost(host) || (port != "" && !validPort(port)) {
		return endpoint{}, fmt.Errorf("not a host:port")
	}
	return endpoint{host: host, port: port}, nil
}

// EndpointAllowed says whether one of the patterns allows the endpoint ep,
// given as "scheme://host[:port]/path" or "host[:port]" (defaultPort when
// it has none). The patterns are those of a ClusterTriggerAuthentication's
// spec.allowedEndpoints:
//
//   - "host" (a name or an IP address, "[v6]" in brackets): that host, on
//     any port; names compare without case and trailing dot;
//   - "*.domain": any host below domain (not domain itself), on any port;
//   - either with ":port": on that port only;
//   - "scheme://host[:port]/path": a URL endpoint with that scheme, host
//     and port (the scheme's default port when omitted on either side)
//     whose path is the pattern's path or continues it after a "/".
//
// An endpoint that does not parse is allowed by none.
func EndpointAllowed(patterns []string, ep, defaultPort string) bool {
	e, err := parseHostPort(ep, defaultPort)
	return err == nil && allowed(patterns, e)
}

func allowed(patterns []string, e endpoint) bool {
	for _, p := range patterns {
		if matchPattern(strings.TrimSpace(p), e) {
			return true
		}
	}
	return false
}

func matchPattern(p string, e endpoint) bool {
	if strings.Contains(p, "://") {
		pe, err := parseEndpointURL(p)
		if err != nil || e.scheme == "" || pe.scheme != e.scheme || pe.host != e.host || pe.port != e.port {
			return false
		}
		prefix := strings.TrimSuffix(pe.path, "/")
		return prefix == "" || e.path == prefix || strings.HasPrefix(e.path, prefix+"/")
	}
	host, port := p, ""
	if h, pt, err := net.SplitHostPort(p); err == nil {
		host, port = h, pt
	}
	if port != "" && port != e.port {
		return false
	}
	host = normHost(host)
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		return rest != "" && strings.HasSuffix(e.host, "."+rest) && net.ParseIP(e.host) == nil
	}
	if ip := net.ParseIP(host); ip != nil {
		eip := net.ParseIP(e.host)
		return eip != nil && eip.Equal(ip)
	}
	return host == e.host
}
