// SPDX-License-Identifier: Apache-2.0

package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ebbscale/ebb/scalers"
)

// Config is a kafka trigger's metadata, with the keys KEDA's kafka scaler
// uses.
type Config struct {
	// BootstrapServers are the brokers to bootstrap from, "host:port" each.
	BootstrapServers []string `meta:"bootstrapServers,from=metadata+auth+env,endpoint=hostport:9092"`
	// ConsumerGroup is the group whose lag is measured.
	ConsumerGroup string `meta:"consumerGroup"`
	// Topic is the topic whose lag is measured; empty means every topic the
	// group has committed offsets for.
	Topic string `meta:"topic,optional"`
	// PartitionLimitation restricts the measure to these partitions of Topic:
	// ids and inclusive ranges, "0,1,4-7".
	PartitionLimitation []string `meta:"partitionLimitation,optional"`

	// LagThreshold is the lag one replica handles (the metric's target).
	LagThreshold int64 `meta:"lagThreshold,default=10,min=1"`
	// ActivationLagThreshold: the trigger is active when the total lag is
	// above it.
	ActivationLagThreshold int64 `meta:"activationLagThreshold,default=0,min=0"`
	// OffsetResetPolicy is what the group's consumers do on a partition with
	// no committed offset: start at its end (latest) or its start (earliest).
	OffsetResetPolicy string `meta:"offsetResetPolicy,default=latest,enum=latest|earliest"`
	// AllowIdleConsumers lifts the cap of one replica per partition.
	AllowIdleConsumers bool `meta:"allowIdleConsumers,default=false"`
	// LimitToPartitionsWithLag caps replicas at the number of partitions with
	// lag.
	LimitToPartitionsWithLag bool `meta:"limitToPartitionsWithLag,default=false"`
	// ExcludePersistentLag leaves out partitions whose committed offset did
	// not move since the previous read while they have lag.
	ExcludePersistentLag bool `meta:"excludePersistentLag,default=false"`
	// ScaleToZeroOnInvalidOffset counts a partition with no committed offset
	// as lag 0 instead of 1 under the latest policy.
	ScaleToZeroOnInvalidOffset bool `meta:"scaleToZeroOnInvalidOffset,default=false"`
	// Version is KEDA's Kafka protocol version hint. It is accepted so that
	// KEDA triggers migrate unchanged, and ignored: versions are negotiated
	// with each broker.
	Version string `meta:"version,optional"`

	// SASL is the authentication mechanism.
	SASL     string `meta:"sasl,from=auth+metadata,default=none,enum=none|plaintext|scram_sha256|scram_sha512|oauthbearer"`
	Username string `meta:"username,from=auth,optional"`
	Password string `meta:"password,from=auth,optional,secret"`

	// SASLTokenProvider is where sasl oauthbearer gets its token: bearer,
	// the OAuth 2.0 client-credentials grant at OAuthTokenEndpointURI.
	SASLTokenProvider string `meta:"saslTokenProvider,from=auth+metadata,default=bearer,enum=bearer"`
	// OAuthTokenEndpointURI is the OAuth 2.0 token endpoint of sasl
	// oauthbearer.
	OAuthTokenEndpointURI string `meta:"oauthTokenEndpointUri,from=auth+metadata,optional,endpoint=url"`
	// Scopes are the OAuth scopes asked for; none by default.
	Scopes []string `meta:"scopes,from=auth+metadata,optional"`
	// OAuthExtensions are SASL extensions (KIP-342) sent with the token,
	// key=value pairs.
	OAuthExtensions map[string]string `meta:"oauthExtensions,from=auth+metadata,optional"`
	// ClientID and ClientSecret are the OAuth client's credentials; KEDA
	// takes them from username and password, which are accepted too.
	ClientID     string `meta:"clientId,from=auth,optional"`
	ClientSecret string `meta:"clientSecret,from=auth,optional,secret"`

	// TLS turns on TLS to the brokers.
	TLS string `meta:"tls,from=auth+metadata,default=disable,enum=enable|disable"`
	// CA is a PEM bundle of the authorities to trust; empty means the
	// system's.
	CA string `meta:"ca,from=auth,optional"`
	// Cert and Key are a PEM client certificate and its key, for mutual TLS.
	Cert string `meta:"cert,from=auth,optional"`
	Key  string `meta:"key,from=auth,optional,secret"`
	// KeyPassword decrypts an encrypted PEM Key.
	KeyPassword string `meta:"keyPassword,from=auth,optional,secret"`
	// UnsafeSsl skips the verification of the brokers' certificates.
	UnsafeSsl bool `meta:"unsafeSsl,from=auth+metadata,default=false"`
}

var _ scalers.Validator = (*Config)(nil)

// Validate checks the rules across keys that need no authentication
// parameters. It does not change the config.
func (c *Config) Validate() error {
	for _, s := range c.BootstrapServers {
		if err := checkHostPort(s); err != nil {
			return scalers.KeyError("bootstrapServers", "expected host:port entries separated by commas, found %q: %v", s, err)
		}
	}
	if _, err := c.partitions(); err != nil {
		return scalers.KeyError("partitionLimitation", "%v", err)
	}
	if len(c.PartitionLimitation) > 0 && c.Topic == "" {
		return scalers.KeyError("partitionLimitation", "needs topic: partitions are ids within one topic")
	}
	if c.LimitToPartitionsWithLag && c.AllowIdleConsumers {
		return scalers.KeyError("limitToPartitionsWithLag", "cannot be true together with allowIdleConsumers")
	}
	if c.LimitToPartitionsWithLag && c.Topic == "" {
		return scalers.KeyError("limitToPartitionsWithLag", "needs topic")
	}
	return nil
}

// validateResolved checks the keys that may come from a
// TriggerAuthentication or the environment. It runs only when those are
// resolved (not at admission).
func (c *Config) validateResolved() error {
	if len(c.BootstrapServers) == 0 {
		return scalers.KeyError("bootstrapServers", "is empty; expected host:port entries separated by commas")
	}
	if c.ConsumerGroup == "" {
		return scalers.KeyError("consumerGroup", "is empty")
	}
	if err := c.validateOAuth(); err != nil {
		return err
	}
	if c.SASL != "none" && c.SASL != "oauthbearer" {
		if c.Username == "" {
			return scalers.KeyError("username", "is required with sasl %s; set it in the TriggerAuthentication", c.SASL)
		}
		if c.Password == "" {
			return scalers.KeyError("password", "is required with sasl %s; set it in the TriggerAuthentication", c.SASL)
		}
	}
	if c.TLS != "enable" {
		for _, kv := range [][2]string{{"ca", c.CA}, {"cert", c.Cert}, {"key", c.Key}, {"keyPassword", c.KeyPassword}} {
			if kv[1] != "" {
				return scalers.KeyError(kv[0], "is set but tls is not enable")
			}
		}
		return nil
	}
	_, err := c.tlsConfig()
	return err
}

// validateOAuth checks the keys of sasl oauthbearer, and that none is set
// without it.
func (c *Config) validateOAuth() error {
	if c.SASL != "oauthbearer" {
		set := []struct {
			key string
			set bool
		}{
			{"oauthTokenEndpointUri", c.OAuthTokenEndpointURI != ""}, {"scopes", len(c.Scopes) > 0},
			{"oauthExtensions", len(c.OAuthExtensions) > 0}, {"clientId", c.ClientID != ""}, {"clientSecret", c.ClientSecret != ""},
		}
		for _, k := range set {
			if k.set {
				return scalers.KeyError(k.key, "is set but sasl is not oauthbearer")
			}
		}
		return nil
	}
	u, err := url.Parse(c.OAuthTokenEndpointURI)
	switch {
	case c.OAuthTokenEndpointURI == "":
		return scalers.KeyError("oauthTokenEndpointUri", "is required with sasl oauthbearer: the OAuth 2.0 token endpoint, e.g. https://login.example/oauth2/token")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return scalers.KeyError("oauthTokenEndpointUri", "expected an http:// or https:// URL such as https://login.example/oauth2/token")
	case u.User != nil:
		return scalers.KeyError("oauthTokenEndpointUri", "must not carry credentials (user:password@); set clientId and clientSecret in the TriggerAuthentication")
	case u.Fragment != "":
		return scalers.KeyError("oauthTokenEndpointUri", "must not have a fragment (#...)")
	}
	id, secret := c.oauthClient()
	switch {
	case c.ClientID != "" && c.Username != "":
		return scalers.KeyError("clientId", "and username are both set; with sasl oauthbearer set one (username is KEDA's name for the client id)")
	case c.ClientSecret != "" && c.Password != "":
		return scalers.KeyError("clientSecret", "and password are both set; with sasl oauthbearer set one (password is KEDA's name for the client secret)")
	case id == "":
		return scalers.KeyError("clientId", "is required with sasl oauthbearer (or username, as in KEDA); set it in the TriggerAuthentication")
	case secret == "":
		return scalers.KeyError("clientSecret", "is required with sasl oauthbearer (or password, as in KEDA); set it in the TriggerAuthentication")
	}
	for k, v := range c.OAuthExtensions {
		if !isExtensionKey(k) || k == "auth" {
			return scalers.KeyError("oauthExtensions", "has the key %q; expected letters only, and not auth (RFC 7628)", k)
		}
		if strings.ContainsAny(v, "\x01") || !isPrintable(v) {
			return scalers.KeyError("oauthExtensions", "has a value for %q with a control character", k)
		}
	}
	for _, s := range c.Scopes {
		if strings.ContainsAny(s, " \"") || !isPrintable(s) {
			return scalers.KeyError("scopes", "expected scopes without spaces, quotes or control characters, separated by commas")
		}
	}
	return nil
}

// oauthClient is the OAuth client's id and secret: clientId and
// clientSecret, or KEDA's username and password.
func (c *Config) oauthClient() (id, secret string) {
	id, secret = c.ClientID, c.ClientSecret
	if id == "" {
		id = c.Username
	}
	if secret == "" {
		secret = c.Password
	}
	return id, secret
}

func isExtensionKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// tlsConfig builds the TLS client configuration, or nil when TLS is off.
// Its errors are KeyErrors that never show a key or password.
func (c *Config) tlsConfig() (*tls.Config, error) {
	if c.TLS != "enable" {
		return nil, nil
	}
	cfg, err := scalers.ClientTLS(scalers.TLSKeys{CA: c.CA, Cert: c.Cert, Key: c.Key, KeyPassword: c.KeyPassword})
	if err != nil {
		return nil, err
	}
	cfg.InsecureSkipVerify = c.UnsafeSsl //nolint:gosec // unsafeSsl is the user's explicit choice
	return cfg, nil
}

// partitions returns the partition ids of PartitionLimitation, sorted and
// without duplicates; nil when it is empty.
func (c *Config) partitions() ([]int32, error) {
	var ids []int32
	for _, item := range c.PartitionLimitation {
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := partitionID(lo)
		if err != nil {
			return nil, fmt.Errorf("expected partition ids or ranges such as 0,1,4-7, found %q", item)
		}
		last := first
		if isRange {
			if last, err = partitionID(hi); err != nil || last < first {
				return nil, fmt.Errorf("expected partition ids or ranges such as 0,1,4-7, found %q", item)
			}
		}
		if last-first > 100000 {
			return nil, fmt.Errorf("range %q is too large", item)
		}
		for p := first; p <= last; p++ {
			ids = append(ids, p)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

func partitionID(s string) (int32, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 0 {
		return 0, errors.New("not a partition id")
	}
	return int32(n), nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return errors.New("port must be a number from 1 to 65535")
	}
	return nil
}

// clusterKey identifies one cluster and the credentials used on it: the key
// of the client pool. It holds secrets and is never logged.
type clusterKey struct {
	servers     string // sorted, comma-joined
	sasl        string
	username    string
	password    string
	tls         bool
	ca          string
	cert        string
	key         string
	keyPassword string
	unsafeSsl   bool
	// oauth is the token endpoint, the client, the scopes and the
	// extensions of sasl oauthbearer.
	oauth oauthKey
}

// oauthKey identifies an OAuth client of sasl oauthbearer.
type oauthKey struct {
	endpoint     string
	clientID     string
	clientSecret string
	scopes       string // space-separated, as sent
	extensions   string // "k=v\x01..." sorted by key, as sent
}

func (c *Config) clusterKey() clusterKey {
	servers := slices.Clone(c.BootstrapServers)
	slices.Sort(servers)
	servers = slices.Compact(servers)
	k := clusterKey{servers: strings.Join(servers, ","), sasl: c.SASL}
	switch c.SASL {
	case "none":
	case "oauthbearer":
		id, secret := c.oauthClient()
		k.oauth = oauthKey{endpoint: c.OAuthTokenEndpointURI, clientID: id, clientSecret: secret, scopes: strings.Join(c.Scopes, " ")}
		for _, name := range slices.Sorted(maps.Keys(c.OAuthExtensions)) {
			k.oauth.extensions += name + "=" + c.OAuthExtensions[name] + "\x01"
		}
	default:
		k.username, k.password = c.Username, c.Password
	}
	if c.TLS == "enable" {
		k.tls, k.ca, k.cert, k.key, k.keyPassword, k.unsafeSsl = true, c.CA, c.Cert, c.Key, c.KeyPassword, c.UnsafeSsl
	}
	return k
}

// config rebuilds the parts of a Config that reach the cluster.
func (k clusterKey) config() *Config {
	tlsMode := "disable"
	if k.tls {
		tlsMode = "enable"
	}
	return &Config{
		BootstrapServers: strings.Split(k.servers, ","),
		SASL:             k.sasl, Username: k.username, Password: k.password,
		TLS: tlsMode, CA: k.ca, Cert: k.cert, Key: k.key, KeyPassword: k.keyPassword, UnsafeSsl: k.unsafeSsl,
	}
}

// secrets are the values Redact removes from errors.
func (k clusterKey) secrets() []string {
	return []string{k.password, k.key, k.keyPassword, k.oauth.clientSecret}
}

// id is the key as one string, for coalescing keys (never logged).
func (k clusterKey) id() string {
	return strings.Join([]string{
		k.servers, k.sasl, k.username, k.password, strconv.FormatBool(k.tls),
		k.ca, k.cert, k.key, k.keyPassword, strconv.FormatBool(k.unsafeSsl),
		k.oauth.endpoint, k.oauth.clientID, k.oauth.clientSecret, k.oauth.scopes, k.oauth.extensions,
	}, "\x00")
}
