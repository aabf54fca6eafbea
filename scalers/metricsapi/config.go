// SPDX-License-Identifier: Apache-2.0

package metricsapi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/ebbscale/ebb/scalers"
)

// Config is a metrics-api trigger's metadata. The keys are KEDA's, plus
// timeout.
type Config struct {
	// URL is the full http:// or https:// URL the scaler GETs, e.g.
	// http://api.shop:3232/api/v1/stats; a query string is kept.
	URL string `meta:"url,endpoint=url"`
	// Format is how the answer is read: json (default), yaml, xml or
	// prometheus (the Prometheus text format).
	Format string `meta:"format,default=json,enum=json|yaml|xml|prometheus"`
	// ValueLocation says where the number is in the answer: a GJSON path for
	// json; a dot-separated path of keys and indexes for yaml and xml; a
	// metric name with optional label matchers for prometheus.
	ValueLocation string `meta:"valueLocation"`
	// TargetValue is the metric target: the value one replica handles.
	TargetValue float64 `meta:"targetValue"`
	// ActivationTargetValue: the trigger is active when the value is above
	// it.
	ActivationTargetValue float64 `meta:"activationTargetValue,default=0"`
	// UnsafeSSL skips the verification of the server's TLS certificate.
	UnsafeSSL bool `meta:"unsafeSsl,default=false"`
	// Timeout bounds one request: a Go duration ("10s", "500ms") or a
	// number of milliseconds ("2000"); at most 1h.
	Timeout time.Duration `meta:"timeout,default=10s,ms"`
	// AuthMode lists the authentication modes, comma-separated: apiKey,
	// basic, bearer, tls. From the metadata or the TriggerAuthentication.
	AuthMode []string `meta:"authMode,optional,from=metadata+auth"`
	// Method is where apiKey goes: header (default) or query.
	Method string `meta:"method,default=header,enum=header|query,from=metadata+auth"`
	// KeyParamName is the header (default X-API-KEY) or query parameter
	// (default api_key) that carries apiKey.
	KeyParamName string `meta:"keyParamName,optional,from=metadata+auth"`
	// APIKey is the key of authMode apiKey; TriggerAuthentication only.
	APIKey string `meta:"apiKey,optional,secret,from=auth"`
	// Username and Password are the credentials of authMode basic;
	// TriggerAuthentication only.
	Username string `meta:"username,optional,from=auth"`
	Password string `meta:"password,optional,secret,from=auth"`
	// Token is sent as "Authorization: Bearer <token>" with authMode bearer;
	// TriggerAuthentication only.
	Token string `meta:"token,optional,secret,from=auth"`
	// CA holds PEM certificates to trust instead of the system's; Cert and
	// Key are the client certificate of authMode tls, KeyPassword decrypts a
	// Key with the legacy PEM encryption. TriggerAuthentication only.
	CA          string `meta:"ca,optional,from=auth"`
	Cert        string `meta:"cert,optional,from=auth"`
	Key         string `meta:"key,optional,secret,from=auth"`
	KeyPassword string `meta:"keyPassword,optional,secret,from=auth"`
	// AggregateFromKubeServiceEndpoints and AggregationType are KEDA's
	// reading of every endpoint of a Service; Ebb accepts only false (see
	// docs/scalers/metrics-api.md).
	AggregateFromKubeServiceEndpoints bool   `meta:"aggregateFromKubeServiceEndpoints,default=false"`
	AggregationType                   string `meta:"aggregationType,optional,enum=average|sum|max|min"`
}

// Authentication modes, as written in authMode.
const (
	authAPIKey = "apikey"
	authBasic  = "basic"
	authBearer = "bearer"
	authTLS    = "tls"
)

// settings is a checked Config in the form the scaler uses.
type settings struct {
	cfg    Config
	url    string // the URL to GET, with the apiKey query parameter when method is query
	shown  string // the URL as shown in errors: scheme://host/path, no query
	format string
	path   location
	modes  map[string]bool
	// keyParam is the header or query parameter of apiKey.
	keyParam string
	timeout  time.Duration
}

// secrets are the values Redact removes from error text.
func (s *settings) secrets() []string {
	return []string{s.cfg.APIKey, s.cfg.Password, s.cfg.Token, s.cfg.Key, s.cfg.KeyPassword}
}

// parse reads and checks a trigger's metadata without I/O; Validate and New
// both run it.
func parse(t scalers.Trigger) (settings, error) {
	var cfg Config
	if err := scalers.ParseMetadata(t, &cfg); err != nil {
		return settings{}, err
	}
	return check(cfg, t)
}

// credentialKeys may only come from a TriggerAuthentication.
var credentialKeys = []string{"apiKey", "username", "password", "token", "ca", "cert", "key", "keyPassword"}

// check applies the rules across keys. Each problem is a *scalers.FieldError
// naming the trigger and the key.
func check(cfg Config, t scalers.Trigger) (settings, error) {
	s := settings{cfg: cfg, format: cfg.Format}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &scalers.FieldError{Trigger: t.String(), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, k := range credentialKeys {
		if _, ok := t.Metadata[k]; ok {
			bad(k, "is a credential: set it in a TriggerAuthentication (secretTargetRef), not in the trigger's metadata")
		}
		if _, ok := t.Metadata[k+"FromEnv"]; ok {
			bad(k, "is a credential: it cannot come from %sFromEnv; set it in a TriggerAuthentication (secretTargetRef or env)", k)
		}
	}
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		bad("url", "expected an http:// or https:// URL such as http://api.shop:3232/api/v1/stats")
	case u.Scheme != "http" && u.Scheme != "https":
		bad("url", "expected an http:// or https:// URL, found scheme %q", u.Scheme)
	case u.User != nil:
		bad("url", "must not carry credentials (user:password@); use authMode basic with a TriggerAuthentication")
	case u.Fragment != "":
		bad("url", "must not have a fragment (#...)")
	default:
		shown := *u
		shown.RawQuery, shown.ForceQuery = "", false
		s.shown = shown.String()
		s.url = u.String()
	}
	if cfg.AggregateFromKubeServiceEndpoints {
		bad("aggregateFromKubeServiceEndpoints", "is not supported by Ebb: point url at one endpoint that serves the aggregate, or use a prometheus trigger over the scraped metric")
	}
	if !(cfg.TargetValue > 0) {
		bad("targetValue", "expected a number greater than 0, found %g", cfg.TargetValue)
	}
	s.timeout = cfg.Timeout
	if cfg.Timeout <= 0 || cfg.Timeout > maxTimeout {
		bad("timeout", "expected a timeout greater than 0 and at most 1h, found %s", cfg.Timeout)
	}
	s.path, err = parseLocation(cfg.Format, cfg.ValueLocation)
	if err != nil {
		bad("valueLocation", "%s", err.Error())
	}
	checkAuth(&s, cfg, t, bad)
	if len(errs) > 0 {
		return settings{}, errors.Join(errs...)
	}
	return s, nil
}

// checkAuth reads authMode and checks the credentials each mode needs
// (once the TriggerAuthentication is resolved).
func checkAuth(s *settings, cfg Config, t scalers.Trigger, bad func(key, format string, args ...any)) {
	s.modes = map[string]bool{}
	for _, m := range cfg.AuthMode {
		switch m := strings.ToLower(strings.TrimSpace(m)); m {
		case authAPIKey, authBasic, authBearer, authTLS:
			s.modes[m] = true
		default:
			bad("authMode", "expected apiKey, basic, bearer or tls (or several, comma-separated), found %q", m)
		}
	}
	if s.modes[authBasic] && s.modes[authBearer] {
		bad("authMode", "expected one of basic or bearer, found both (each sets the Authorization header)")
	}
	// At admission the TriggerAuthentication is not resolved yet: the
	// credentials cannot be checked.
	pending := t.AuthPending
	if s.modes[authAPIKey] {
		if cfg.APIKey == "" && !pending {
			bad("apiKey", "is required with authMode apiKey; set it in the TriggerAuthentication")
		}
		s.keyParam = cfg.KeyParamName
		switch {
		case s.keyParam == "" && cfg.Method == "query":
			s.keyParam = "api_key"
		case s.keyParam == "":
			s.keyParam = "X-API-KEY"
		case cfg.Method == "header" && !httpguts.ValidHeaderFieldName(s.keyParam):
			bad("keyParamName", "expected an HTTP header name, found %q", s.keyParam)
		case cfg.Method == "header" && isReservedHeader(s.keyParam):
			bad("keyParamName", "must not be %s: use authMode basic or bearer for the Authorization header", s.keyParam)
		}
		if cfg.Method == "query" && s.url != "" {
			u, _ := url.Parse(s.url)
			q := u.Query()
			if q.Has(s.keyParam) {
				bad("keyParamName", "names the query parameter %q, which url already sets", s.keyParam)
			}
			q.Set(s.keyParam, cfg.APIKey)
			u.RawQuery = q.Encode()
			s.url = u.String()
		}
	} else if cfg.APIKey != "" {
		bad("authMode", "must include apiKey when the TriggerAuthentication gives apiKey")
	}
	if s.modes[authBasic] && cfg.Username == "" && !pending {
		bad("username", "is required with authMode basic; set it in the TriggerAuthentication")
	}
	if !s.modes[authBasic] && (cfg.Username != "" || cfg.Password != "") {
		bad("authMode", "must include basic when the TriggerAuthentication gives username or password")
	}
	if s.modes[authBearer] && cfg.Token == "" && !pending {
		bad("token", "is required with authMode bearer; set it in the TriggerAuthentication")
	}
	if !s.modes[authBearer] && cfg.Token != "" {
		bad("authMode", "must include bearer when the TriggerAuthentication gives token")
	}
	if s.modes[authTLS] && (cfg.Cert == "" || cfg.Key == "") && !pending {
		bad("cert", "and key are required with authMode tls; set them in the TriggerAuthentication")
	}
	if !s.modes[authTLS] && (cfg.Cert != "" || cfg.Key != "") {
		bad("authMode", "must include tls when the TriggerAuthentication gives cert and key")
	}
	// The TLS keys are checked here, so that a bad certificate fails at the
	// build and not at the first read.
	if _, err := clientTLS(cfg); err != nil {
		var fe *scalers.FieldError
		if errors.As(err, &fe) {
			bad(fe.Key, "%s", fe.Msg)
		} else {
			bad("cert", "is not usable")
		}
	}
}

// isReservedHeader says whether an apiKey header would clash with what the
// scaler or the authentication modes set.
func isReservedHeader(name string) bool {
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Host", "Content-Length", "Accept", "User-Agent"} {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// maxTimeout bounds the timeout key.
const maxTimeout = time.Hour
