// SPDX-License-Identifier: Apache-2.0

package scalers_test

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// The patterns of a ClusterTriggerAuthentication's allowedEndpoints, as
// documented on the API field.
func TestEndpointAllowed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		patterns []string
		endpoint string
		want     bool
	}{
		{"a host on any port", []string{"prom.monitoring.svc"}, "prom.monitoring.svc:9090", true},
		{"a host without case or trailing dot", []string{"Prom.Monitoring.svc."}, "PROM.monitoring.svc:1", true},
		{"another host", []string{"prom.monitoring.svc"}, "evil.example:9090", false},
		{"a host that only ends like the pattern", []string{"prom.svc"}, "evilprom.svc:80", false},
		{"a host with a port", []string{"kafka.shared:9092"}, "kafka.shared:9092", true},
		{"a host on another port", []string{"kafka.shared:9092"}, "kafka.shared:22", false},
		{"the default port counts", []string{"redis.shared:6379"}, "redis.shared", true},
		{"no port and no default", []string{"redis.shared:6379"}, "redis.example", false},
		{"a domain wildcard below the domain", []string{"*.kafka.example.com"}, "b-1.kafka.example.com:9092", true},
		{"a domain wildcard two levels below", []string{"*.example.com"}, "a.b.example.com:1", true},
		{"a domain wildcard is not the domain", []string{"*.kafka.example.com"}, "kafka.example.com:9092", false},
		{"a domain wildcard with a port", []string{"*.example.com:9092"}, "a.example.com:9093", false},
		{"an IP address", []string{"10.0.0.7"}, "10.0.0.7:5432", true},
		{"an IPv6 address in brackets", []string{"[fd00::7]:5432"}, "[fd00:0::7]:5432", true},
		{"an IP never matches a wildcard", []string{"*.0.0.7"}, "10.0.0.7:1", false},
		{"a list smuggled into a host", []string{"*.example.com"}, "evil.org,a.example.com:1", false},
		{"a URL endpoint against a host pattern", []string{"prom.svc:9090"}, "http://prom.svc:9090/api", true},
		{"a URL endpoint takes its scheme's port", []string{"prom.svc:443"}, "https://prom.svc/", true},
		{"user information does not hide the host", []string{"prom.svc"}, "http://prom.svc@evil.org/", false},
		{"a URL prefix", []string{"https://prom.svc/tenants/a"}, "https://prom.svc:443/tenants/a/api/v1", true},
		{"a URL prefix is the whole path", []string{"https://prom.svc/tenants/a"}, "https://prom.svc/tenants/a", true},
		{"a URL prefix ends on a slash boundary", []string{"https://prom.svc/tenants/a"}, "https://prom.svc/tenants/ab", false},
		{"a URL prefix with dot-segments", []string{"https://prom.svc/tenants/a"}, "https://prom.svc/tenants/a/../b", false},
		{"a URL prefix with encoded dot-segments", []string{"https://prom.svc/tenants/a"}, "https://prom.svc/tenants/a/%2e%2e/b", false},
		{"a URL prefix and another scheme", []string{"https://prom.svc/"}, "http://prom.svc:443/", false},
		{"a URL prefix and another port", []string{"https://prom.svc/"}, "https://prom.svc:8443/", false},
		{"a URL prefix does not match a host:port", []string{"https://prom.svc/"}, "prom.svc:443", false},
		{"an AMQP URL prefix", []string{"amqp://rabbit.shared/"}, "amqp://u:p@rabbit.shared:5672/vhost", true},
		{"no pattern", nil, "prom.svc:80", false},
		{"an empty endpoint", []string{"prom.svc"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := scalers.EndpointAllowed(tc.patterns, tc.endpoint, "6379"); got != tc.want {
				t.Errorf("EndpointAllowed(%q, %q) = %v, want %v", tc.patterns, tc.endpoint, got, tc.want)
			}
		})
	}
}

type pinnedConfig struct {
	Server   string   `meta:"serverAddress,optional,from=metadata+auth+env,endpoint=url"`
	Brokers  []string `meta:"brokers,optional,from=metadata+auth+env,endpoint=hostport:9092"`
	Host     string   `meta:"host,optional,from=metadata+auth+env,endpoint=host:port:5432"`
	Port     int      `meta:"port,optional,from=metadata+auth+env"`
	DSN      string   `meta:"dsn,optional,from=metadata+auth+env,secret,endpoint=custom"`
	Password string   `meta:"password,optional,from=auth,secret"`
}

// Endpoints reads "host:port" from dsn's "@(...)" part.
func (c *pinnedConfig) Endpoints(string) ([]string, error) {
	_, rest, ok := strings.Cut(c.DSN, "@(")
	if !ok {
		return nil, errors.New("no address")
	}
	addr, _, _ := strings.Cut(rest, ")")
	return []string{addr}, nil
}

// A pinned trigger's endpoint keys are checked wherever their value comes
// from, except the pin owner's own Secrets and ConfigMaps; errors name the
// key and the owner, never the value.
func TestParseMetadataChecksTheEndpointPin(t *testing.T) {
	pin := &scalers.EndpointPin{Owner: `ClusterTriggerAuthentication "shared"`, Allowed: []string{"https://prom.shared/", "*.kafka.shared:9092", "db.shared:5432"},
		Trusted: map[string]bool{"serverAddress": true, "host": true, "dsn": true}}
	for _, tc := range []struct {
		name     string
		metadata map[string]string
		auth     map[string]string
		env      map[string]string
		pending  bool
		badKey   string // "" when allowed
	}{
		{"an allowed URL", map[string]string{"serverAddress": "https://prom.shared/api"}, nil, nil, false, ""},
		{"a foreign URL", map[string]string{"serverAddress": "https://evil.example/"}, nil, nil, false, "serverAddress"},
		{"a foreign URL at admission", map[string]string{"serverAddress": "https://evil.example/"}, nil, nil, true, "serverAddress"},
		{"a URL from the owner's Secret", nil, map[string]string{"serverAddress": "https://anywhere.example/"}, nil, false, ""},
		{"a URL from the environment", map[string]string{"serverAddressFromEnv": "PROM"}, nil, map[string]string{"PROM": "https://evil.example/"}, false, "serverAddress"},
		{"a URL from the environment, at admission", map[string]string{"serverAddressFromEnv": "PROM"}, nil, nil, true, ""},
		{"a URL that does not parse", map[string]string{"serverAddress": "::"}, nil, nil, false, "serverAddress"},
		{"allowed brokers", map[string]string{"brokers": "a.kafka.shared:9092,b.kafka.shared"}, nil, nil, false, ""},
		{"one foreign broker", map[string]string{"brokers": "a.kafka.shared:9092,evil.example:9092"}, nil, nil, false, "brokers"},
		{"brokers from an untrusted parameter", nil, map[string]string{"brokers": "evil.example:9092"}, nil, false, "brokers"},
		{"an allowed host and port", map[string]string{"host": "db.shared", "port": "5432"}, nil, nil, false, ""},
		{"an allowed host on the default port", map[string]string{"host": "db.shared"}, nil, nil, false, ""},
		{"an allowed host on another port", map[string]string{"host": "db.shared", "port": "22"}, nil, nil, false, "host"},
		{"the owner's host on a port the tenant chose", map[string]string{"port": "22"}, map[string]string{"host": "db.shared"}, nil, false, "host"},
		{"the owner's host on its default port", nil, map[string]string{"host": "anything.example"}, nil, false, ""},
		{"a host that smuggles a list", map[string]string{"host": "db.shared,evil.example"}, nil, nil, false, "host"},
		{"a DSN of an allowed server", map[string]string{"dsn": "u@(db.shared:5432)/x"}, nil, nil, false, ""},
		{"a DSN of a foreign server", map[string]string{"dsn": "u@(evil.example:5432)/x"}, nil, nil, false, "dsn"},
		{"a DSN from the owner's Secret", nil, map[string]string{"dsn": "u@(evil.example:5432)/x"}, nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := scalers.Trigger{Index: 0, Name: "t", Type: "test", Metadata: tc.metadata, AuthParams: tc.auth, Env: tc.env, AuthPending: tc.pending, Pin: pin}
			var c pinnedConfig
			err := scalers.ParseMetadata(tr, &c)
			if tc.badKey == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *scalers.FieldError
			if !errors.As(err, &fe) || fe.Key != tc.badKey {
				t.Fatalf("error = %v, want one on key %q", err, tc.badKey)
			}
			if !strings.Contains(err.Error(), `ClusterTriggerAuthentication "shared"`) || !strings.Contains(err.Error(), "spec.allowedEndpoints") {
				t.Errorf("error does not name the owner and its field: %v", err)
			}
			if strings.Contains(err.Error(), "evil") {
				t.Errorf("error shows the value: %v", err)
			}
		})
	}
	// Unpinned, nothing is checked.
	var c pinnedConfig
	if err := scalers.ParseMetadata(scalers.Trigger{Type: "test", Metadata: map[string]string{"serverAddress": "https://evil.example/"}}, &c); err != nil {
		t.Errorf("unpinned: %v", err)
	}
}

func TestCheckTagsChecksTheEndpointOption(t *testing.T) {
	type badForm struct {
		S string `meta:"s,endpoint=ftp"`
	}
	type badPortKey struct {
		H string `meta:"h,endpoint=host:nope:5432"`
	}
	type noLister struct {
		D string `meta:"d,endpoint=custom"`
	}
	type notAString struct {
		N int `meta:"n,endpoint=url"`
	}
	for name, cfg := range map[string]any{"unknown form": &badForm{}, "missing port key": &badPortKey{}, "custom without a lister": &noLister{}, "a number": &notAString{}} {
		if err := scalers.CheckTags(cfg); err == nil {
			t.Errorf("%s: CheckTags found nothing", name)
		}
	}
	if err := scalers.CheckTags(&pinnedConfig{}); err != nil {
		t.Errorf("good config: %v", err)
	}
	keys, _ := scalers.Keys(&pinnedConfig{})
	for _, k := range keys {
		if want := k.Key != "port" && k.Key != "password"; k.Endpoint != want {
			t.Errorf("key %s: Endpoint = %v", k.Key, k.Endpoint)
		}
	}
}

func clusterAuthClient(objs ...runtime.Object) *fake.ClientBuilder {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	return fake.NewClientBuilder().WithScheme(scheme).WithRuntimeObjects(objs...)
}

func cta(name string, spec v1alpha1.ClusterTriggerAuthenticationSpec) *v1alpha1.ClusterTriggerAuthentication {
	spec.SecretTargetRef = []v1alpha1.KeyRef{{Parameter: "password", Name: "shared", Key: "password"}}
	return &v1alpha1.ClusterTriggerAuthentication{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

// Who may use a ClusterTriggerAuthentication: the namespaces it lists or
// selects; with neither set, none unless the operator opens it.
func TestClusterAuthForAllowsOnlyTheNamespacesTheCTAAllows(t *testing.T) {
	c := clusterAuthClient(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a", Labels: map[string]string{"team": "a"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-b", Labels: map[string]string{"team": "b"}}},
		cta("open", v1alpha1.ClusterTriggerAuthenticationSpec{}),
		cta("listed", v1alpha1.ClusterTriggerAuthenticationSpec{AllowedNamespaces: []string{"tenant-a"}}),
		cta("selected", v1alpha1.ClusterTriggerAuthenticationSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}}),
		cta("everyone", v1alpha1.ClusterTriggerAuthenticationSpec{NamespaceSelector: &metav1.LabelSelector{}}),
		cta("badselector", v1alpha1.ClusterTriggerAuthenticationSpec{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}}}}),
		cta("pinned", v1alpha1.ClusterTriggerAuthenticationSpec{AllowedNamespaces: []string{"tenant-a"}, AllowedEndpoints: []string{"db.shared"}}),
	).Build()
	// A parameter the CTA reads from the tenant's environment is not pinned by definition.
	pinned := &v1alpha1.ClusterTriggerAuthentication{}
	if err := c.Get(t.Context(), client.ObjectKey{Name: "pinned"}, pinned); err != nil {
		t.Fatal(err)
	}
	pinned.Spec.Env = []v1alpha1.EnvRef{{Parameter: "host", Name: "HOST"}}
	pinned.Spec.SecretTargetRef = append(pinned.Spec.SecretTargetRef, v1alpha1.KeyRef{Parameter: "host", Name: "shared", Key: "host"})
	if err := c.Update(t.Context(), pinned); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cta, ns string
		open, want    bool
	}{
		{"unrestricted, secure default", "open", "tenant-a", false, false},
		{"unrestricted, open by default", "open", "tenant-a", true, true},
		{"a listed namespace", "listed", "tenant-a", false, true},
		{"a namespace not listed", "listed", "tenant-b", true, false},
		{"a selected namespace", "selected", "tenant-a", false, true},
		{"a namespace not selected", "selected", "tenant-b", true, false},
		{"an empty selector selects all", "everyone", "tenant-b", false, true},
		{"an invalid selector selects none", "badselector", "tenant-a", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &scalers.AuthResolver{Reader: c, ClusterAuthOpenByDefault: tc.open}
			_, _, err := r.ClusterAuthFor(t.Context(), tc.ns, tc.cta)
			if tc.want && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.want {
				if !scalers.IsClusterAuthNotAllowed(err) {
					t.Fatalf("error = %v, want a ClusterAuthNotAllowedError", err)
				}
				if !strings.Contains(err.Error(), "ClusterTriggerAuthentication "+tc.cta) || !strings.Contains(err.Error(), tc.ns) {
					t.Errorf("error does not name the CTA and the namespace: %v", err)
				}
			}
		})
	}
	r := &scalers.AuthResolver{Reader: c}
	_, pin, err := r.ClusterAuthFor(t.Context(), "tenant-a", "pinned")
	if err != nil || pin == nil || !pin.Trusted["password"] || pin.Trusted["host"] || pin.Allowed[0] != "db.shared" {
		t.Errorf("pin = %+v, %v; want db.shared with password trusted and host (from the tenant's environment) not", pin, err)
	}
	if _, _, err := r.ClusterAuthFor(t.Context(), "tenant-a", "missing"); err == nil || scalers.IsClusterAuthNotAllowed(err) || !strings.Contains(err.Error(), "missing: not found") {
		t.Errorf("missing CTA: %v", err)
	}
}

// Resolve refuses a trigger in a namespace the CTA does not allow before it
// reads any Secret, and carries the pin of one that pins.
func TestResolveEnforcesTheClusterTriggerAuthentication(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: "ebb-system"}, Data: map[string][]byte{"password": []byte("hunter2")}}
	c := clusterAuthClient(secret, cta("shared", v1alpha1.ClusterTriggerAuthenticationSpec{AllowedNamespaces: []string{"tenant-a"}, AllowedEndpoints: []string{"db.shared"}})).Build()
	r := &scalers.AuthResolver{Reader: c, OperatorNamespace: "ebb-system"}
	so := func(ns string) *v1alpha1.ScaledObject {
		return &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns}, Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef: v1alpha1.ScaleTarget{Name: "x"},
			Triggers: []v1alpha1.Trigger{{Type: "postgresql", Name: "rows", Metadata: map[string]string{"host": "db.shared"},
				AuthenticationRef: &v1alpha1.AuthenticationRef{Kind: "ClusterTriggerAuthentication", Name: "shared"}}}}}
	}
	res, err := r.Resolve(t.Context(), so("tenant-b"), 0)
	if !scalers.IsClusterAuthNotAllowed(err) || res.AuthParams != nil {
		t.Fatalf("tenant-b: %v, params %v", err, res.AuthParams)
	}
	if !strings.Contains(err.Error(), `trigger 0 "rows" (postgresql): ClusterTriggerAuthentication shared does not allow namespace tenant-b`) {
		t.Errorf("error: %v", err)
	}
	res, err = r.Resolve(t.Context(), so("tenant-a"), 0)
	if err != nil || res.AuthParams["password"] != "hunter2" || res.Pin == nil || res.Pin.Owner != `ClusterTriggerAuthentication "shared"` {
		t.Fatalf("tenant-a: %v, pin %+v", err, res.Pin)
	}
}
