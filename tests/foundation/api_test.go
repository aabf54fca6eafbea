// SPDX-License-Identifier: Apache-2.0

package foundation_test

import (
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ebbv1alpha1 "github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/controlplane"
)

// The CRDs from deploy/crds, installed into a real API server, are the API
// Ebb's users see: names, defaults, validation and kubectl columns.
func TestAPI(t *testing.T) {
	t.Parallel()
	cp := controlplane.Start(t)

	t.Run("CRDs", func(t *testing.T) { testCRDsInstalled(t, cp) })
	t.Run("defaults", func(t *testing.T) { testDefaults(t, cp) })
	t.Run("validation", func(t *testing.T) { testValidation(t, cp) })
	t.Run("authentication", func(t *testing.T) { testAuthentication(t, cp) })
}

func testCRDsInstalled(t *testing.T, cp *controlplane.ControlPlane) {
	ctx := t.Context()
	dc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	resources, err := dc.ServerResourcesForGroupVersion(ebbv1alpha1.GroupVersion.String())
	if err != nil {
		t.Fatalf("discovery of %s: %v", ebbv1alpha1.GroupVersion, err)
	}

	for _, tc := range []struct {
		sentence   string
		plural     string
		kind       string
		shortName  string
		namespaced bool
	}{
		{"ScaledObjects are namespaced, short name ebbso, in category ebb", "scaledobjects", "ScaledObject", "ebbso", true},
		{"ScaledJobs are namespaced, short name ebbsj, in category ebb", "scaledjobs", "ScaledJob", "ebbsj", true},
		{"TriggerAuthentications are namespaced, short name ebbta, in category ebb", "triggerauthentications", "TriggerAuthentication", "ebbta", true},
		{"ClusterTriggerAuthentications are cluster-wide, short name ebbcta, in category ebb", "clustertriggerauthentications", "ClusterTriggerAuthentication", "ebbcta", false},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := cp.Client.Get(ctx, client.ObjectKey{Name: tc.plural + ".ebb.dev"}, &crd); err != nil {
				t.Fatalf("CRD: %v", err)
			}
			for _, cond := range []apiextensionsv1.CustomResourceDefinitionConditionType{apiextensionsv1.Established, apiextensionsv1.NamesAccepted} {
				if !crdCondition(&crd, cond) {
					t.Errorf("CRD condition %s is not True: %+v", cond, crd.Status.Conditions)
				}
			}

			i := slices.IndexFunc(resources.APIResources, func(r metav1.APIResource) bool { return r.Name == tc.plural })
			if i < 0 {
				t.Fatalf("discovery does not list %s", tc.plural)
			}
			r := resources.APIResources[i]
			if r.Kind != tc.kind {
				t.Errorf("kind %q, want %q", r.Kind, tc.kind)
			}
			if r.Namespaced != tc.namespaced {
				t.Errorf("namespaced %v, want %v", r.Namespaced, tc.namespaced)
			}
			if !slices.Contains(r.ShortNames, tc.shortName) {
				t.Errorf("short names %v, want %s among them", r.ShortNames, tc.shortName)
			}
			if !slices.Contains(r.Categories, "ebb") {
				t.Errorf("categories %v, want ebb among them", r.Categories)
			}
		})
	}

	t.Run("kubectl get ebbso shows target, range, replicas, triggers, conditions and age", func(t *testing.T) {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := cp.Client.Get(ctx, client.ObjectKey{Name: "scaledobjects.ebb.dev"}, &crd); err != nil {
			t.Fatalf("CRD: %v", err)
		}
		var got []string
		for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
			got = append(got, c.Name)
		}
		want := []string{"Kind", "Target", "Min", "Max", "Replicas", "Triggers", "Ready", "Active", "Fallback", "Paused", "Age"}
		if !slices.Equal(got, want) {
			t.Errorf("printer columns %v, want %v", got, want)
		}
	})
}

func crdCondition(crd *apiextensionsv1.CustomResourceDefinition, typ apiextensionsv1.CustomResourceDefinitionConditionType) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == typ {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

func testDefaults(t *testing.T, cp *controlplane.ControlPlane) {
	for _, tc := range []struct {
		sentence string
		mutate   func(*ebbv1alpha1.ScaledObject)
		check    func(t *testing.T, spec *ebbv1alpha1.ScaledObjectSpec)
	}{
		{
			sentence: "a minimal ScaledObject gets the scaling contract's defaults",
			check: func(t *testing.T, s *ebbv1alpha1.ScaledObjectSpec) {
				expect(t, "spec.scaleTargetRef.apiVersion", s.ScaleTargetRef.APIVersion, "apps/v1")
				expect(t, "spec.scaleTargetRef.kind", s.ScaleTargetRef.Kind, "Deployment")
				expect(t, "spec.pollingInterval", deref(s.PollingInterval), 30)
				expect(t, "spec.cooldownPeriod", deref(s.CooldownPeriod), 300)
				expect(t, "spec.initialCooldownPeriod", deref(s.InitialCooldownPeriod), 0)
				expect(t, "spec.minReplicaCount", deref(s.MinReplicaCount), 0)
				expect(t, "spec.maxReplicaCount", deref(s.MaxReplicaCount), 100)
				expect(t, "spec.triggers[0].metricType", s.Triggers[0].MetricType, ebbv1alpha1.MetricTypeAverageValue)
				expect(t, "spec.idleReplicaCount is unset", s.IdleReplicaCount == nil, true)
				expect(t, "spec.advanced is unset", s.Advanced == nil, true)
				expect(t, "spec.fallback is unset", s.Fallback == nil, true)
			},
		},
		{
			sentence: "given values are kept",
			mutate: func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.ScaleTargetRef.APIVersion = "apps/v1"
				so.Spec.ScaleTargetRef.Kind = "StatefulSet"
				so.Spec.PollingInterval = ptr.To[int32](5)
				so.Spec.CooldownPeriod = ptr.To[int32](0)
				so.Spec.MinReplicaCount = ptr.To[int32](2)
				so.Spec.MaxReplicaCount = ptr.To[int32](7)
				so.Spec.IdleReplicaCount = ptr.To[int32](0)
				so.Spec.Triggers[0].MetricType = ebbv1alpha1.MetricTypeValue
			},
			check: func(t *testing.T, s *ebbv1alpha1.ScaledObjectSpec) {
				expect(t, "spec.scaleTargetRef.kind", s.ScaleTargetRef.Kind, "StatefulSet")
				expect(t, "spec.pollingInterval", deref(s.PollingInterval), 5)
				expect(t, "spec.cooldownPeriod", deref(s.CooldownPeriod), 0)
				expect(t, "spec.minReplicaCount", deref(s.MinReplicaCount), 2)
				expect(t, "spec.maxReplicaCount", deref(s.MaxReplicaCount), 7)
				expect(t, "spec.idleReplicaCount", deref(s.IdleReplicaCount), 0)
				expect(t, "spec.triggers[0].metricType", s.Triggers[0].MetricType, ebbv1alpha1.MetricTypeValue)
			},
		},
		{
			sentence: "an empty advanced section scales to zero stepwise and probes activation every second",
			mutate:   func(so *ebbv1alpha1.ScaledObject) { so.Spec.Advanced = &ebbv1alpha1.AdvancedConfig{} },
			check: func(t *testing.T, s *ebbv1alpha1.ScaledObjectSpec) {
				expect(t, "spec.advanced.scaleToZero", s.Advanced.ScaleToZero, ebbv1alpha1.ScaleToZeroStepwise)
				if s.Advanced.ActivationProbeInterval == nil {
					t.Fatal("spec.advanced.activationProbeInterval not defaulted")
				}
				expect(t, "spec.advanced.activationProbeInterval", s.Advanced.ActivationProbeInterval.Duration.String(), "1s")
			},
		},
		{
			sentence: "a fallback without behavior is static",
			mutate: func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.Fallback = &ebbv1alpha1.Fallback{FailureThreshold: 3, Replicas: 2}
			},
			check: func(t *testing.T, s *ebbv1alpha1.ScaledObjectSpec) {
				expect(t, "spec.fallback.behavior", s.Fallback.Behavior, ebbv1alpha1.FallbackStatic)
				expect(t, "spec.fallback.failureThreshold", s.Fallback.FailureThreshold, 3)
				expect(t, "spec.fallback.replicas", s.Fallback.Replicas, 2)
			},
		},
		{
			sentence: "an authenticationRef without kind names a TriggerAuthentication",
			mutate: func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.Triggers[0].AuthenticationRef = &ebbv1alpha1.AuthenticationRef{Name: "rabbitmq"}
			},
			check: func(t *testing.T, s *ebbv1alpha1.ScaledObjectSpec) {
				expect(t, "spec.triggers[0].authenticationRef.kind", s.Triggers[0].AuthenticationRef.Kind, "TriggerAuthentication")
			},
		},
		{
			sentence: "scaling modifiers without metricType use AverageValue",
			mutate: func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.Advanced = &ebbv1alpha1.AdvancedConfig{ScalingModifiers: &ebbv1alpha1.ScalingModifiers{Formula: "queue / 2", Target: "5"}}
			},
			check: func(t *testing.T, s *ebbv1alpha1.ScaledObjectSpec) {
				expect(t, "spec.advanced.scalingModifiers.metricType", s.Advanced.ScalingModifiers.MetricType, ebbv1alpha1.MetricTypeAverageValue)
			},
		},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			ctx := t.Context()
			so := newScaledObject()
			if tc.mutate != nil {
				tc.mutate(so)
			}
			if err := cp.Client.Create(ctx, so); err != nil {
				t.Fatalf("create: %v", err)
			}
			var stored ebbv1alpha1.ScaledObject
			if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(so), &stored); err != nil {
				t.Fatalf("get: %v", err)
			}
			tc.check(t, &stored.Spec)
		})
	}
}

func testValidation(t *testing.T, cp *controlplane.ControlPlane) {
	for _, tc := range []struct {
		sentence string
		mutate   func(*ebbv1alpha1.ScaledObject)
		field    string // the field path the error names
		says     string // and what it says about it
	}{
		{"minReplicaCount above maxReplicaCount is rejected",
			func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount = ptr.To[int32](5), ptr.To[int32](3)
			},
			"spec.minReplicaCount", "less than or equal to maxReplicaCount"},
		{"idleReplicaCount equal to minReplicaCount is rejected",
			func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.IdleReplicaCount, so.Spec.MinReplicaCount = ptr.To[int32](0), ptr.To[int32](0)
			},
			"spec.idleReplicaCount", "less than minReplicaCount"},
		{"idleReplicaCount above minReplicaCount is rejected",
			func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.IdleReplicaCount, so.Spec.MinReplicaCount = ptr.To[int32](3), ptr.To[int32](2)
			},
			"spec.idleReplicaCount", ""},
		{"a negative pollingInterval is rejected",
			func(so *ebbv1alpha1.ScaledObject) { so.Spec.PollingInterval = ptr.To[int32](-1) },
			"spec.pollingInterval", "greater than or equal to 1"},
		{"a pollingInterval of zero is rejected",
			func(so *ebbv1alpha1.ScaledObject) { so.Spec.PollingInterval = ptr.To[int32](0) },
			"spec.pollingInterval", "greater than or equal to 1"},
		{"a negative cooldownPeriod is rejected",
			func(so *ebbv1alpha1.ScaledObject) { so.Spec.CooldownPeriod = ptr.To[int32](-1) },
			"spec.cooldownPeriod", "greater than or equal to 0"},
		{"a negative initialCooldownPeriod is rejected",
			func(so *ebbv1alpha1.ScaledObject) { so.Spec.InitialCooldownPeriod = ptr.To[int32](-5) },
			"spec.initialCooldownPeriod", "greater than or equal to 0"},
		{"a negative minReplicaCount is rejected",
			func(so *ebbv1alpha1.ScaledObject) { so.Spec.MinReplicaCount = ptr.To[int32](-1) },
			"spec.minReplicaCount", "greater than or equal to 0"},
		{"two triggers with the same name are rejected",
			func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.Triggers = []ebbv1alpha1.Trigger{
					{Type: "rabbitmq", Name: "queue", Metadata: map[string]string{"queueName": "a", "value": "1"}},
					{Type: "rabbitmq", Name: "queue", Metadata: map[string]string{"queueName": "b", "value": "1"}},
				}
			},
			"spec.triggers", "trigger names must be unique"},
		{"a ScaledObject without triggers is rejected",
			func(so *ebbv1alpha1.ScaledObject) { so.Spec.Triggers = []ebbv1alpha1.Trigger{} },
			"spec.triggers", "at least 1"},
		{"a ScaledObject without a target name is rejected",
			func(so *ebbv1alpha1.ScaledObject) { so.Spec.ScaleTargetRef.Name = "" },
			"spec.scaleTargetRef.name", ""},
		{"an unknown trigger metricType is rejected",
			func(so *ebbv1alpha1.ScaledObject) { so.Spec.Triggers[0].MetricType = "Percentage" },
			"spec.triggers[0].metricType", `"AverageValue", "Value", "Utilization"`},
		{"an unknown fallback behavior is rejected",
			func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.Fallback = &ebbv1alpha1.Fallback{FailureThreshold: 3, Replicas: 1, Behavior: "sometimes"}
			},
			"spec.fallback.behavior", `"static"`},
		{"a fallback failureThreshold of zero is rejected",
			func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.Fallback = &ebbv1alpha1.Fallback{FailureThreshold: 0, Replicas: 1}
			},
			"spec.fallback.failureThreshold", "greater than or equal to 1"},
		{"an unknown scaleToZero is rejected",
			func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.Advanced = &ebbv1alpha1.AdvancedConfig{ScaleToZero: "never"}
			},
			"spec.advanced.scaleToZero", `"stepwise", "direct"`},
		{"a scaling formula without a target is rejected",
			func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.Advanced = &ebbv1alpha1.AdvancedConfig{ScalingModifiers: &ebbv1alpha1.ScalingModifiers{Formula: "queue * 2"}}
			},
			"spec.advanced.scalingModifiers.target", "formula and target must be set together"},
		{"an authenticationRef of an unknown kind is rejected",
			func(so *ebbv1alpha1.ScaledObject) {
				so.Spec.Triggers[0].AuthenticationRef = &ebbv1alpha1.AuthenticationRef{Name: "creds", Kind: "Secret"}
			},
			"spec.triggers[0].authenticationRef.kind", `"TriggerAuthentication", "ClusterTriggerAuthentication"`},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			so := newScaledObject()
			tc.mutate(so)
			err := cp.Client.Create(t.Context(), so)
			expectInvalid(t, err, tc.field, tc.says)
		})
	}

	t.Run("a TriggerAuthentication with no reference at all is rejected", func(t *testing.T) {
		ta := &ebbv1alpha1.TriggerAuthentication{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "ta-"}}
		err := cp.Client.Create(t.Context(), ta)
		expectInvalid(t, err, "spec", "at least one of secretTargetRef, configMapTargetRef or env must be set")
	})
	ctaSpec := func(mutate func(*ebbv1alpha1.ClusterTriggerAuthenticationSpec)) *ebbv1alpha1.ClusterTriggerAuthentication {
		cta := &ebbv1alpha1.ClusterTriggerAuthentication{ObjectMeta: metav1.ObjectMeta{GenerateName: "cta-"}}
		cta.Spec.SecretTargetRef = []ebbv1alpha1.KeyRef{{Parameter: "password", Name: "shared", Key: "password"}}
		mutate(&cta.Spec)
		return cta
	}
	for _, tc := range []struct {
		sentence, field, says string
		mutate                func(*ebbv1alpha1.ClusterTriggerAuthenticationSpec)
	}{
		{"a ClusterTriggerAuthentication allowing a namespace that cannot be one is rejected", "spec.allowedNamespaces[0]", "should match",
			func(s *ebbv1alpha1.ClusterTriggerAuthenticationSpec) { s.AllowedNamespaces = []string{"Tenant_A"} }},
		{"a ClusterTriggerAuthentication allowing a namespace twice is rejected", "spec.allowedNamespaces[1]", "Duplicate value",
			func(s *ebbv1alpha1.ClusterTriggerAuthenticationSpec) { s.AllowedNamespaces = []string{"a", "a"} }},
		{"a ClusterTriggerAuthentication with a selector operator that does not exist is rejected", "spec.namespaceSelector", "must be In, NotIn, Exists or DoesNotExist",
			func(s *ebbv1alpha1.ClusterTriggerAuthenticationSpec) {
				s.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near", Values: []string{"a"}}}}
			}},
		{"a ClusterTriggerAuthentication with In and no values is rejected", "spec.namespaceSelector", "values must be non-empty for In",
			func(s *ebbv1alpha1.ClusterTriggerAuthenticationSpec) {
				s.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn}}}
			}},
		{"a ClusterTriggerAuthentication pinned to a bare wildcard is rejected", "spec.allowedEndpoints[0]", "should match",
			func(s *ebbv1alpha1.ClusterTriggerAuthenticationSpec) { s.AllowedEndpoints = []string{"*"} }},
		{"a ClusterTriggerAuthentication pinned to a pattern with a space is rejected", "spec.allowedEndpoints[1]", "should match",
			func(s *ebbv1alpha1.ClusterTriggerAuthenticationSpec) {
				s.AllowedEndpoints = []string{"prom.svc", "prom.svc, evil.example"}
			}},
		{"a ClusterTriggerAuthentication pinned to a URL with a query is rejected", "spec.allowedEndpoints[0]", "should match",
			func(s *ebbv1alpha1.ClusterTriggerAuthenticationSpec) {
				s.AllowedEndpoints = []string{"https://prom.svc/api?x=1"}
			}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			err := cp.Client.Create(t.Context(), ctaSpec(tc.mutate))
			expectInvalid(t, err, tc.field, tc.says)
		})
	}
	t.Run("a ClusterTriggerAuthentication with no reference at all is rejected", func(t *testing.T) {
		cta := &ebbv1alpha1.ClusterTriggerAuthentication{ObjectMeta: metav1.ObjectMeta{GenerateName: "cta-"}}
		err := cp.Client.Create(t.Context(), cta)
		expectInvalid(t, err, "spec", "at least one of secretTargetRef, configMapTargetRef or env must be set")
	})
}

func testAuthentication(t *testing.T, cp *controlplane.ControlPlane) {
	spec := ebbv1alpha1.TriggerAuthenticationSpec{
		SecretTargetRef:    []ebbv1alpha1.KeyRef{{Parameter: "host", Name: "rabbitmq", Key: "url"}},
		ConfigMapTargetRef: []ebbv1alpha1.KeyRef{{Parameter: "vhost", Name: "rabbitmq", Key: "vhost"}},
		Env:                []ebbv1alpha1.EnvRef{{Parameter: "username", Name: "RABBITMQ_USER"}},
	}
	for _, tc := range []struct {
		sentence string
		obj      client.Object
	}{
		{"a TriggerAuthentication with secret, configMap and env references is accepted",
			&ebbv1alpha1.TriggerAuthentication{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "ta-"}, Spec: spec}},
		{"a TriggerAuthentication with only an env reference is accepted",
			&ebbv1alpha1.TriggerAuthentication{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "ta-"},
				Spec: ebbv1alpha1.TriggerAuthenticationSpec{Env: spec.Env}}},
		{"a ClusterTriggerAuthentication with a secret reference is accepted",
			&ebbv1alpha1.ClusterTriggerAuthentication{ObjectMeta: metav1.ObjectMeta{GenerateName: "cta-"},
				Spec: ebbv1alpha1.ClusterTriggerAuthenticationSpec{TriggerAuthenticationSpec: ebbv1alpha1.TriggerAuthenticationSpec{SecretTargetRef: spec.SecretTargetRef}}}},
		{"a ClusterTriggerAuthentication limited to namespaces and pinned to endpoints is accepted",
			&ebbv1alpha1.ClusterTriggerAuthentication{ObjectMeta: metav1.ObjectMeta{GenerateName: "cta-"},
				Spec: ebbv1alpha1.ClusterTriggerAuthenticationSpec{TriggerAuthenticationSpec: ebbv1alpha1.TriggerAuthenticationSpec{SecretTargetRef: spec.SecretTargetRef},
					AllowedNamespaces: []string{"tenant-a", "tenant-b"},
					NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"a"}}}},
					AllowedEndpoints: []string{"prometheus.monitoring.svc", "*.kafka.example.com:9092", "10.0.0.7:5432", "[fd00::7]:6379",
						"https://prom.example.com/tenants/a", "amqp://rabbit.shared:5672/"}}}},
		{"a ScaledObject may name a ClusterTriggerAuthentication",
			func() client.Object {
				so := newScaledObject()
				so.Spec.Triggers[0].AuthenticationRef = &ebbv1alpha1.AuthenticationRef{Name: "shared", Kind: "ClusterTriggerAuthentication"}
				return so
			}()},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			if err := cp.Client.Create(t.Context(), tc.obj); err != nil {
				t.Fatalf("create: %v", err)
			}
		})
	}
}

// expectInvalid asserts err is the API server's Invalid error naming field
// (as a cause, and in the message) and saying says.
func expectInvalid(t *testing.T, err error, field, says string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want it rejected naming %s", field)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("error %v is not Invalid", err)
	}
	t.Logf("rejected: %v", err)
	var causes []string
	if st, ok := err.(apierrors.APIStatus); ok && st.Status().Details != nil {
		for _, c := range st.Status().Details.Causes {
			causes = append(causes, c.Field)
		}
	}
	if !slices.Contains(causes, field) {
		t.Errorf("error causes name fields %q, want %q among them; error: %v", causes, field, err)
	}
	if !strings.Contains(err.Error(), field+":") {
		t.Errorf("error message does not name %s: %v", field, err)
	}
	if says != "" && !strings.Contains(err.Error(), says) {
		t.Errorf("error message does not say %q: %v", says, err)
	}
}

// newScaledObject is the smallest valid ScaledObject: a target name and one
// trigger.
func newScaledObject() *ebbv1alpha1.ScaledObject {
	return &ebbv1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "so-"},
		Spec: ebbv1alpha1.ScaledObjectSpec{
			ScaleTargetRef: ebbv1alpha1.ScaleTarget{Name: "worker"},
			Triggers: []ebbv1alpha1.Trigger{{
				Type:     "rabbitmq",
				Metadata: map[string]string{"queueName": "work", "value": "10"},
			}},
		},
	}
}

func deref(p *int32) int32 {
	if p == nil {
		return -1 << 31
	}
	return *p
}

func expect[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
