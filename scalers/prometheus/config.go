// SPDX-License-Identifier: Apache-2.0

package prometheus

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// Config is a prometheus trigger's metadata. The keys are KEDA's.
type Config struct {
	// ServerAddress is the base URL of the Prometheus HTTP API (or of
	// anything serving it: Thanos Query, Mimir, VictoriaMetrics...), e.g.
	// http://prometheus.monitoring:9090. The scaler calls
	// <serverAddress>/api/v1/query.
	ServerAddress string `meta:"serverAddress,endpoint=url"`
	// Query is the PromQL expression; it must give one number.
	Query string `meta:"query"`
	// Threshold is the metric target: the value one replica handles.
	Threshold float64 `meta:"threshold"`
	// ActivationThreshold: the trigger is active when the value is above it.
	ActivationThreshold float64 `meta:"activationThreshold,default=0"`
	// Namespace is sent as the `namespace` query parameter, for Thanos
	// Querier or prom-label-proxy setups that scope queries by tenant.
	Namespace string `meta:"namespace,optional"`
	// CustomHeaders are sent with every query, e.g. X-Scope-OrgID=team-a.
	CustomHeaders map[string]string `meta:"customHeaders,optional"`
	// QueryParameters are extra URL query parameters, e.g. dedup=false.
	QueryParameters map[string]string `meta:"queryParameters,optional"`
	// IgnoreNullValues reads a query with no series as 0. Default false: no
	// series is an error (KEDA's default is true).
	IgnoreNullValues bool `meta:"ignoreNullValues,default=false"`
	// UnsafeSSL skips the verification of the server's TLS certificate.
	UnsafeSSL bool `meta:"unsafeSsl,default=false"`
	// Timeout bounds one query: a Go duration ("10s", "500ms") or, as in
	// KEDA, a number of milliseconds ("1000"); at most 1h.
	Timeout time.Duration `meta:"timeout,default=10s,ms"`
	// AuthModes is bearer or basic; from the metadata or the
	// TriggerAuthentication.
	AuthModes []string `meta:"authModes,optional,from=metadata+auth"`
	// BearerToken is the token of authModes bearer; TriggerAuthentication only.
	BearerToken string `meta:"bearerToken,optional,secret,from=auth"`
	// Username and Password are the credentials of authModes basic;
	// TriggerAuthentication only.
	Username string `meta:"username,optional,from=auth"`
	Password string `meta:"password,optional,secret,from=auth"`
}

// Authentication modes.
const (
	authBearer = "bearer"
	authBasic  = "basic"
)

// queryPath is appended to serverAddress.
const queryPath = "/api/v1/query"

// settings is a checked Config in the form the scaler uses.
type settings struct {
	cfg      Config
	endpoint string     // <serverAddress>/api/v1/query, without a query string
	server   string     // serverAddress as shown in errors
	params   url.Values // namespace and queryParameters; "query" is added per request
	header   http.Header
	authMode string // "", authBearer or authBasic
	timeout  time.Duration
}

// secrets are the values Redact removes from error text.
func (s *settings) secrets() []string {
	return []string{s.cfg.BearerToken, s.cfg.Password}
}

// parse reads and checks a trigger's metadata. It does no I/O and is what both
// Validate and New run.
func parse(t scalers.Trigger) (settings, error) {
	var cfg Config
	if err := scalers.ParseMetadata(t, &cfg); err != nil {
		return settings{}, err
	}
	return check(cfg, t)
}

// credentialKeys may only come from a TriggerAuthentication.
var credentialKeys = []string{"bearerToken", "username", "password"}

// check applies the rules across keys. Each problem is a *scalers.FieldError
// naming the trigger and the key.
func check(cfg Config, t scalers.Trigger) (settings, error) {
	s := settings{cfg: cfg}
	var errs []error
	bad := keyErrors(t, &errs)

	for _, k := range credentialKeys {
		if _, ok := t.Metadata[k]; ok {
			bad(k, "is a credential: set it in a TriggerAuthentication (secretTargetRef), not in the trigger's metadata")
		}
		if _, ok := t.Metadata[k+"FromEnv"]; ok {
			bad(k, "is a credential: it cannot come from %sFromEnv; set it in a TriggerAuthentication (secretTargetRef or env)", k)
		}
	}

	u, err := url.Parse(cfg.ServerAddress)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		bad("serverAddress", "expected an http:// or https:// URL such as http://prometheus.monitoring:9090, found %q", scalers.RedactString(cfg.ServerAddress))
	case u.Scheme != "http" && u.Scheme != "https":
		bad("serverAddress", "expected an http:// or https:// URL, found scheme %q", u.Scheme)
	case u.User != nil:
		bad("serverAddress", "must not carry credentials (user:password@); use authModes basic with a TriggerAuthentication")
	case u.RawQuery != "" || u.Fragment != "":
		bad("serverAddress", "must not have a query string or fragment; set extra parameters in queryParameters")
	default:
		base := *u
		base.Path = strings.TrimSuffix(base.Path, "/")
		base.RawPath = ""
		s.server = base.String()
		base.Path += queryPath
		s.endpoint = base.String()
	}

	if strings.TrimSpace(cfg.Query) == "" {
		bad("query", "expected a PromQL expression, found an empty string")
	}
	if !(cfg.Threshold > 0) {
		bad("threshold", "expected a number greater than 0, found %g", cfg.Threshold)
	}

	s.timeout = cfg.Timeout
	if cfg.Timeout <= 0 || cfg.Timeout > maxTimeout {
		bad("timeout", "expected a duration greater than 0 and at most 1h, found %s", cfg.Timeout)
	}

	s.params = url.Values{}
	for _, k := range sortedKeys(cfg.QueryParameters) {
		switch k {
		case "query":
			bad("queryParameters", "must not set %q: the query comes from the query key", k)
		case "namespace":
			bad("queryParameters", "must not set %q: use the namespace key", k)
		default:
			s.params.Set(k, cfg.QueryParameters[k])
		}
	}
	if cfg.Namespace != "" {
		s.params.Set("namespace", cfg.Namespace)
	}

	s.header = http.Header{}
	for _, k := range sortedKeys(cfg.CustomHeaders) {
		v := cfg.CustomHeaders[k]
		switch {
		case !isToken(k):
			bad("customHeaders", "has %q, which is not a valid HTTP header name", k)
		case strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "Proxy-Authorization") || strings.EqualFold(k, "Cookie"):
			bad("customHeaders", "must not set %s: credentials belong in a TriggerAuthentication (authModes bearer or basic)", k)
		case strings.ContainsAny(v, "\r\n\x00"):
			bad("customHeaders", "has a value for %q with a line break or NUL", k)
		default:
			s.header.Set(k, v)
		}
	}

	errs = append(errs, checkAuth(&s, cfg, t)...)
	if len(errs) > 0 {
		return settings{}, errors.Join(errs...)
	}
	return s, nil
}

func checkAuth(s *settings, cfg Config, t scalers.Trigger) []error {
	var errs []error
	bad := keyErrors(t, &errs)
	modes := map[string]bool{}
	for _, m := range cfg.AuthModes {
		switch m := strings.ToLower(m); m {
		case authBearer, authBasic:
			modes[m] = true
		case "tls", "custom":
			bad("authModes", "%q is not supported by Ebb's prometheus trigger yet; expected bearer or basic", m)
		default:
			bad("authModes", "expected bearer or basic, found %q", m)
		}
	}
	if modes[authBearer] && modes[authBasic] {
		bad("authModes", "expected one of bearer or basic, found both (each sets the Authorization header)")
		return errs
	}
	// At admission the TriggerAuthentication is not resolved yet: the
	// credentials cannot be checked.
	pending := t.AuthPending
	switch {
	case modes[authBearer]:
		s.authMode = authBearer
		if cfg.BearerToken == "" && !pending {
			bad("bearerToken", "is required with authModes bearer; set it in the TriggerAuthentication")
		}
	case modes[authBasic]:
		s.authMode = authBasic
		if cfg.Username == "" && !pending {
			bad("username", "is required with authModes basic; set it in the TriggerAuthentication")
		}
	default:
		if cfg.BearerToken != "" || cfg.Username != "" || cfg.Password != "" {
			bad("authModes", "is required when the TriggerAuthentication gives bearerToken, username or password: set it to bearer or basic")
		}
	}
	return errs
}

// keyErrors returns a function that appends a FieldError for t to errs.
func keyErrors(t scalers.Trigger, errs *[]error) func(key, format string, args ...any) {
	return func(key, format string, args ...any) {
		*errs = append(*errs, &scalers.FieldError{Trigger: t.String(), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
}

// maxTimeout bounds the timeout key.
const maxTimeout = time.Hour

// isToken says whether s is an HTTP token (RFC 9110 section 5.6.2), the syntax
// of a header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
