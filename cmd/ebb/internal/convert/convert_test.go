// SPDX-License-Identifier: Apache-2.0

package convert_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ebbscale/ebb/cmd/ebb/internal/convert"
	"github.com/ebbscale/ebb/cmd/internal/triggers"
	"github.com/ebbscale/ebb/scalers"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/out")

func registry(t testing.TB) *scalers.Registry {
	t.Helper()
	reg, err := triggers.Registry(scalers.DefaultEgress())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// corpus returns the inputs of testdata/in by base name.
func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/in/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in testdata/in: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = data
	}
	return out
}

func convertFile(t testing.TB, name string, data []byte) *convert.Result {
	t.Helper()
	return convert.Convert([]convert.Input{{Name: name, Data: data}}, convert.Options{Registry: registry(t)})
}

// findingsText is what the command prints on stderr before its summary.
func findingsText(res *convert.Result) []byte {
	var b bytes.Buffer
	for _, e := range res.Errors {
		fmt.Fprintln(&b, e)
	}
	for _, f := range res.Findings {
		fmt.Fprintln(&b, f)
	}
	return b.Bytes()
}

// Each corpus file converts to its golden output and golden findings; run
// with -update to rewrite them after a deliberate change, and read the diff.
func TestGolden(t *testing.T) {
	for name, data := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			res := convertFile(t, name, data)
			var out bytes.Buffer
			if err := convert.WriteDocuments(&out, res.Documents); err != nil {
				t.Fatal(err)
			}
			stem := strings.TrimSuffix(name, ".yaml")
			golden(t, filepath.Join("testdata", "out", stem+".yaml"), out.Bytes())
			golden(t, filepath.Join("testdata", "out", stem+".findings"), findingsText(res))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the conversion (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// The corpus sets every field of KEDA's ScaledObject, ScaledJob,
// TriggerAuthentication and ClusterTriggerAuthentication at least once (the fields of KEDA 2.x, listed
// out here by hand), every field of the HTTP add-on's HTTPScaledObject (v0.8 to
// v0.10, and those added since), every field of its InterceptorRoute (v0.14
// on), and every KEDA annotation Ebb maps or reports.
func TestCorpusCoversEveryKEDAField(t *testing.T) {
	scaledObject := []string{
		"metadata.name", "metadata.namespace", "metadata.labels", "metadata.annotations",
		"metadata.finalizers", "metadata.uid", "metadata.resourceVersion", "metadata.managedFields",
		"metadata.annotations.autoscaling.keda.sh/paused", "metadata.annotations.autoscaling.keda.sh/paused-replicas",
		"metadata.annotations.autoscaling.keda.sh/paused-scale-in", "metadata.annotations.autoscaling.keda.sh/paused-scale-out",
		"metadata.annotations.autoscaling.keda.sh/force-activation",
		"metadata.annotations.scaledobject.keda.sh/transfer-hpa-ownership", "metadata.annotations.validations.keda.sh/hpa-ownership",
		"spec.scaleTargetRef.apiVersion", "spec.scaleTargetRef.kind", "spec.scaleTargetRef.name", "spec.scaleTargetRef.envSourceContainerName",
		"spec.pollingInterval", "spec.initialCooldownPeriod", "spec.cooldownPeriod", "spec.idleReplicaCount",
		"spec.minReplicaCount", "spec.maxReplicaCount",
		"spec.fallback.failureThreshold", "spec.fallback.replicas", "spec.fallback.behavior",
		"spec.advanced.restoreToOriginalReplicaCount",
		"spec.advanced.horizontalPodAutoscalerConfig.name", "spec.advanced.horizontalPodAutoscalerConfig.behavior",
		"spec.advanced.scalingModifiers.formula", "spec.advanced.scalingModifiers.target",
		"spec.advanced.scalingModifiers.activationTarget", "spec.advanced.scalingModifiers.metricType",
		"spec.triggers[].type", "spec.triggers[].name", "spec.triggers[].metadata",
		"spec.triggers[].authenticationRef.name", "spec.triggers[].authenticationRef.kind",
		"spec.triggers[].metricType", "spec.triggers[].useCachedMetrics",
		"status",
	}
	authSpec := []string{
		"spec.secretTargetRef[].parameter", "spec.secretTargetRef[].name", "spec.secretTargetRef[].key",
		"spec.configMapTargetRef[].parameter", "spec.configMapTargetRef[].name", "spec.configMapTargetRef[].key",
		"spec.env[].parameter", "spec.env[].name", "spec.env[].containerName",
	}
	triggerAuthentication := append(slices.Clone(authSpec),
		"spec.podIdentity.provider", "spec.podIdentity.identityId", "spec.podIdentity.identityTenantId",
		"spec.podIdentity.identityAuthorityHost", "spec.podIdentity.roleArn", "spec.podIdentity.identityOwner",
		"spec.hashiCorpVault.address", "spec.hashiCorpVault.namespace", "spec.hashiCorpVault.authentication",
		"spec.hashiCorpVault.role", "spec.hashiCorpVault.mount", "spec.hashiCorpVault.credential.token",
		"spec.hashiCorpVault.credential.serviceAccount", "spec.hashiCorpVault.secrets[].parameter",
		"spec.hashiCorpVault.secrets[].key", "spec.hashiCorpVault.secrets[].path", "spec.hashiCorpVault.secrets[].type",
		"spec.azureKeyVault.vaultUri", "spec.azureKeyVault.credentials.clientId", "spec.azureKeyVault.credentials.tenantId",
		"spec.azureKeyVault.credentials.clientSecret.valueFrom.secretKeyRef.name", "spec.azureKeyVault.cloud.type",
		"spec.azureKeyVault.cloud.activeDirectoryEndpoint", "spec.azureKeyVault.cloud.keyVaultResourceURL",
		"spec.azureKeyVault.podIdentity.provider", "spec.azureKeyVault.secrets[].parameter",
		"spec.azureKeyVault.secrets[].name", "spec.azureKeyVault.secrets[].version",
		"spec.awsSecretManager.region", "spec.awsSecretManager.podIdentity.provider",
		"spec.awsSecretManager.credentials.accessKey.valueFrom.secretKeyRef.name",
		"spec.awsSecretManager.credentials.accessSecretKey.valueFrom.secretKeyRef.name",
		"spec.awsSecretManager.credentials.accessToken.valueFrom.secretKeyRef.name",
		"spec.awsSecretManager.secrets[].parameter", "spec.awsSecretManager.secrets[].name",
		"spec.awsSecretManager.secrets[].versionId", "spec.awsSecretManager.secrets[].versionStage",
		"spec.awsSecretManager.secrets[].secretKey",
		"spec.gcpSecretManager.credentials.clientSecret.valueFrom.secretKeyRef.name",
		"spec.gcpSecretManager.podIdentity.provider", "spec.gcpSecretManager.secrets[].parameter",
		"spec.gcpSecretManager.secrets[].id", "spec.gcpSecretManager.secrets[].version",
		"spec.boundServiceAccountToken[].parameter", "spec.boundServiceAccountToken[].serviceAccountName",
	)
	httpScaledObject := []string{
		"metadata.name", "metadata.namespace", "metadata.labels", "metadata.annotations",
		"metadata.uid", "metadata.resourceVersion",
		"metadata.annotations.httpscaledobject.keda.sh/skip-scaledobject-creation",
		"metadata.annotations.httpscaledobject.keda.sh/orphan-scaledobject",
		"metadata.annotations.autoscaling.keda.sh/paused", "metadata.annotations.autoscaling.keda.sh/paused-replicas",
		"spec.hosts[]", "spec.pathPrefixes[]", "spec.headers[].name", "spec.headers[].value",
		"spec.scaleTargetRef.name", "spec.scaleTargetRef.kind", "spec.scaleTargetRef.apiVersion",
		"spec.scaleTargetRef.service", "spec.scaleTargetRef.port", "spec.scaleTargetRef.portName",
		"spec.replicas.min", "spec.replicas.max",
		"spec.targetPendingRequests", "spec.scaledownPeriod", "spec.initialCooldownPeriod",
		"spec.scalingMetric.concurrency.targetValue",
		"spec.scalingMetric.requestRate.targetValue", "spec.scalingMetric.requestRate.window",
		"spec.scalingMetric.requestRate.granularity",
		"spec.coldStartTimeoutFailoverRef.service", "spec.coldStartTimeoutFailoverRef.port",
		"spec.coldStartTimeoutFailoverRef.portName", "spec.coldStartTimeoutFailoverRef.timeoutSeconds",
		"spec.timeouts.conditionWait", "spec.timeouts.responseHeader",
		"spec.placeholderConfig",
		"status",
	}
	interceptorRoute := []string{
		"metadata.name", "metadata.namespace", "metadata.labels",
		"spec.target.service", "spec.target.port", "spec.target.portName",
		"spec.rules[].hosts[]", "spec.rules[].paths[].value", "spec.rules[].headers[].name", "spec.rules[].headers[].value",
		"spec.scalingMetric.concurrency.targetValue", "spec.scalingMetric.requestRate.targetValue",
		"spec.scalingMetric.requestRate.window", "spec.scalingMetric.requestRate.granularity",
		"spec.coldStart.fallback.service.name", "spec.coldStart.fallback.service.port", "spec.coldStart.fallback.service.portName",
		"spec.coldStart.placeholder.response.statusCode", "spec.coldStart.placeholder.response.body",
		"spec.coldStart.placeholder.response.bodyFromConfigMap.name", "spec.coldStart.placeholder.response.bodyFromConfigMap.key",
		"spec.coldStart.placeholder.response.headers",
		"spec.timeouts.readiness", "spec.timeouts.request", "spec.timeouts.responseHeader",
		"spec.staticRoutes[].rules[].paths[].value", "spec.staticRoutes[].response.statusCode", "spec.staticRoutes[].responseMode",
		"status",
	}
	scaledJob := []string{
		"metadata.name", "metadata.namespace", "metadata.labels", "metadata.annotations",
		"metadata.uid", "metadata.resourceVersion", "metadata.annotations.autoscaling.keda.sh/paused",
		"spec.jobTargetRef.parallelism", "spec.jobTargetRef.completions", "spec.jobTargetRef.activeDeadlineSeconds",
		"spec.jobTargetRef.backoffLimit", "spec.jobTargetRef.template",
		"spec.envSourceContainerName", "spec.pollingInterval", "spec.successfulJobsHistoryLimit", "spec.failedJobsHistoryLimit",
		"spec.minReplicaCount", "spec.maxReplicaCount", "spec.rolloutStrategy", "spec.rollout.strategy", "spec.rollout.propagationPolicy",
		"spec.scalingStrategy.strategy", "spec.scalingStrategy.customScalingQueueLengthDeduction",
		"spec.scalingStrategy.customScalingRunningJobPercentage", "spec.scalingStrategy.pendingPodConditions",
		"spec.scalingStrategy.multipleScalersCalculation",
		"spec.triggers[].type", "spec.triggers[].name", "spec.triggers[].metadata",
		"spec.triggers[].authenticationRef.name", "spec.triggers[].metricType",
		"status",
	}
	want := map[string][]string{
		"ScaledJob":                    scaledJob,
		"HTTPScaledObject":             httpScaledObject,
		"InterceptorRoute":             interceptorRoute,
		"ScaledObject":                 scaledObject,
		"TriggerAuthentication":        triggerAuthentication,
		"ClusterTriggerAuthentication": append(slices.Clone(authSpec[:6]), "spec.env[].parameter", "spec.env[].name", "metadata.namespace"),
	}
	seen := map[string]map[string]bool{}
	for name, data := range corpus(t) {
		if name == "bad.yaml" {
			continue
		}
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			var obj map[string]any
			if err := sigsyaml.Unmarshal(doc, &obj); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			objs := []any{obj}
			if obj["kind"] == "List" {
				objs, _ = obj["items"].([]any)
			}
			for _, o := range objs {
				m, _ := o.(map[string]any)
				kind, _ := m["kind"].(string)
				if apiVersion, _ := m["apiVersion"].(string); !strings.HasPrefix(apiVersion, "keda.sh/") && !strings.HasPrefix(apiVersion, "http.keda.sh/") {
					continue
				}
				if seen[kind] == nil {
					seen[kind] = map[string]bool{}
				}
				paths(m, "", seen[kind])
			}
		}
	}
	for kind, fields := range want {
		var missing []string
		for _, f := range fields {
			if !seen[kind][f] {
				missing = append(missing, f)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("no %s in testdata/in sets %s", kind, strings.Join(missing, ", "))
		}
	}
}

// paths records the path of every value in v: "a.b", "list[].c".
func paths(v any, prefix string, out map[string]bool) {
	if prefix != "" {
		out[prefix] = true
	}
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			paths(x, p, out)
		}
	case []any:
		for _, x := range v {
			paths(x, prefix+"[]", out)
		}
	}
}

// Findings name keys, never values: credentials written in a KEDA trigger's
// metadata or a provider's settings never reach stderr or the output.
func TestNoSecretInFindingsOrOutput(t *testing.T) {
	secrets := []string{"hunter2-in-metadata", "not-a-real-token"}
	for name, data := range corpus(t) {
		res := convertFile(t, name, data)
		var out bytes.Buffer
		if err := convert.WriteDocuments(&out, res.Documents); err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(findingsText(res), []byte(s)) {
				t.Errorf("%s: a finding shows the value %q", name, s)
			}
			if bytes.Contains(out.Bytes(), []byte(s)) {
				t.Errorf("%s: the output carries %q, which has no place in Ebb's objects", name, s)
			}
		}
	}
}

func TestConvert(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		input    string
		// wantOut and wantFindings are substrings of the output and of the
		// findings; noOut must not be in the output, noFindings not in the
		// findings.
		wantOut      []string
		noOut        []string
		wantFindings []string
		noFindings   []string
		lossy        bool
	}{
		{
			sentence: "a document that is not KEDA's passes through byte for byte, comments included",
			input:    "# head\napiVersion: v1\nkind: ConfigMap   # odd spacing kept\nmetadata: {name: x}\n",
			wantOut:  []string{"# head\napiVersion: v1\nkind: ConfigMap   # odd spacing kept\nmetadata: {name: x}\n"},
		},
		{
			sentence:     "a trigger name used in the formula is renamed in the formula too, but not inside strings or members",
			input:        so(`advanced: {scalingModifiers: {formula: "Queue_A + max(Queue_A, 1)", target: "5"}}`, `- {type: rabbitmq, name: Queue_A, metadata: {queueName: q, hostFromEnv: H, value: "1"}}`),
			wantOut:      []string{"formula: queuea + max(queuea, 1)", "name: queuea"},
			wantFindings: []string{`spec.triggers[0].name: note: renamed "Queue_A" to "queuea"`},
		},
		{
			sentence:     "two triggers with the same name get distinct ones",
			input:        so("", `- {type: rabbitmq, name: q, metadata: {queueName: a, hostFromEnv: H, value: "1"}}`+"\n"+`- {type: rabbitmq, name: q, metadata: {queueName: b, hostFromEnv: H, value: "1"}}`),
			wantOut:      []string{"name: q\n", "name: q-2\n"},
			wantFindings: []string{`spec.triggers[1].name: note: renamed "q" to "q-2"`},
		},
		{
			sentence:     "paused true maps to Ebb's annotation with the canonical value",
			input:        so("", `- {type: rabbitmq, metadata: {queueName: a, hostFromEnv: H, value: "1"}}`, "autoscaling.keda.sh/paused: \"True\""),
			wantOut:      []string{`ebb.dev/paused: "true"`},
			noOut:        []string{"keda.sh"},
			wantFindings: []string{"note: written as ebb.dev/paused"},
		},
		{
			sentence:     "a paused-replicas annotation that is not a count is reported and left out",
			input:        so("", `- {type: rabbitmq, metadata: {queueName: a, hostFromEnv: H, value: "1"}}`, `autoscaling.keda.sh/paused-replicas: "two"`),
			noOut:        []string{"paused"},
			wantFindings: []string{`changed: is "two"; expected a whole number of replicas`},
			lossy:        true,
		},
		{
			sentence:     "a field KEDA does not have either is reported, not copied",
			input:        so("scaleToZeroFast: true", `- {type: rabbitmq, metadata: {queueName: a, hostFromEnv: H, value: "1"}}`),
			noOut:        []string{"scaleToZeroFast"},
			wantFindings: []string{"spec.scaleToZeroFast: dropped: not a field of a ScaledObject's spec"},
			lossy:        true,
		},
		{
			sentence:     "a metadata value Ebb's scaler refuses is written and reported as invalid",
			input:        so("", `- {type: rabbitmq, metadata: {queueName: a, hostFromEnv: H, value: "1", mode: Backlog}}`),
			wantOut:      []string{"mode: Backlog"},
			wantFindings: []string{`spec.triggers[0].metadata[mode]: invalid: Ebb's admission check refuses it`},
			lossy:        true,
		},
		{
			sentence:     "minReplicaCount above maxReplicaCount is reported as invalid",
			input:        so("minReplicaCount: 5\n  maxReplicaCount: 2", `- {type: rabbitmq, metadata: {queueName: a, hostFromEnv: H, value: "1"}}`),
			wantFindings: []string{"spec.minReplicaCount: invalid: 5 is above maxReplicaCount 2"},
			lossy:        true,
		},
		{
			sentence:     "a ScaledObject without a target is skipped",
			input:        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec:\n  triggers: []\n",
			wantFindings: []string{"spec.scaleTargetRef.name: skipped: is missing"},
			lossy:        true,
		},
		{
			sentence:     "a fallback without replicas is left out",
			input:        so("fallback: {failureThreshold: 3}", `- {type: rabbitmq, metadata: {queueName: a, hostFromEnv: H, value: "1"}}`),
			noOut:        []string{"fallback"},
			wantFindings: []string{"spec.fallback: dropped: needs failureThreshold (1 or more) and replicas (0 or more)"},
			lossy:        true,
		},
		{
			sentence:     "an HPA behavior with an unknown field is left out",
			input:        so("advanced: {horizontalPodAutoscalerConfig: {behavior: {scaleSideways: {}}}}", `- {type: rabbitmq, metadata: {queueName: a, hostFromEnv: H, value: "1"}}`),
			noOut:        []string{"scaleSideways", "advanced"},
			wantFindings: []string{`spec.advanced.horizontalPodAutoscalerConfig.behavior: dropped: not a valid HPA behavior (json: unknown field "scaleSideways")`},
			lossy:        true,
		},
		{
			sentence:     "an HTTPScaledObject becomes a ScaledObject whose http trigger publishes its route to ebb-interceptor",
			input:        hso("hosts: [shop.example.com]\n  pathPrefixes: [/cart]\n  scaleTargetRef: {name: web, service: web, port: 8080}"),
			wantOut:      []string{"kind: ScaledObject", "type: http", "host: shop.example.com", "pathPrefix: /cart", "service: web", `port: "8080"`, `targetConcurrency: "100"`, "interceptorURL: http://ebb-interceptor-admin.ebb-system.svc:9090", "name: shop-example-com-cart\n", "kind: ClusterTriggerAuthentication", "pollingInterval: 15"},
			noOut:        []string{"scalingModifiers", "keda.sh"},
			wantFindings: []string{"changed: its routes move to ebb-interceptor", "spec.scalingMetric: note: not set"},
			lossy:        true,
		},
		{
			sentence:     "hosts that are words of the formula language get names the formula can use",
			input:        hso("hosts: [max, min]\n  scaleTargetRef: {name: web, service: web, port: 8080}\n  scalingMetric: {requestRate: {targetValue: 7}}"),
			wantOut:      []string{"formula: hmax + hmin\n", `target: "7"`, `targetRequestRate: "7"`},
			wantFindings: []string{"note: 2 routes (hosts × pathPrefixes)"},
			lossy:        true,
		},
		{
			sentence:     "more routes than a ScaledObject takes triggers are reported invalid",
			input:        hso("hosts: [a.example, b.example, c.example, d.example, e.example, f.example]\n  pathPrefixes: [/a, /b, /c, /d, /e, /f]\n  scaleTargetRef: {name: web, service: web, port: 8080}"),
			wantFindings: []string{"spec.hosts: invalid: with spec.pathPrefixes makes 36 routes; an Ebb ScaledObject takes at most 32 triggers"},
			lossy:        true,
		},
		{
			sentence:     "a wildcard subdomain is kept as a host glob, which needs an administrator's grant, reported as a change",
			input:        hso(`hosts: ["*.example.com"]` + "\n  scaleTargetRef: {name: web, service: web, port: 8080}"),
			wantOut:      []string{"host: '*.example.com'"},
			wantFindings: []string{"spec.hosts[0]: changed: a wildcard subdomain: Ebb's interceptor serves a host glob only in a namespace an administrator grants it"},
			lossy:        true,
		},
		{
			sentence:     "no hosts (any host) are written as host \"*\", which Ebb refuses: reported invalid",
			input:        hso("scaleTargetRef: {name: web, service: web, port: 8080}"),
			wantOut:      []string{"host: '*'"},
			wantFindings: []string{`spec.hosts: changed: not set (or empty): the add-on then serves any host; written as host "*", which Ebb refuses`, `spec.hosts: invalid: Ebb's admission check refuses it`},
			lossy:        true,
		},
		{
			sentence:     "the add-on skips its ScaledObject only for exactly \"true\", so another spelling converts",
			input:        hso("hosts: [shop.example.com]\n  scaleTargetRef: {name: web, service: web, port: 8080}", "httpscaledobject.keda.sh/skip-scaledobject-creation: \"True\""),
			wantOut:      []string{"kind: ScaledObject"},
			noOut:        []string{"skip-scaledobject-creation"},
			wantFindings: []string{`metadata.annotations[httpscaledobject.keda.sh/skip-scaledobject-creation]: note: is not "true"`},
			lossy:        true,
		},
		{
			sentence:     "an HTTPScaledObject without a namespace converts without one, as kubectl apply gives it one",
			input:        strings.Replace(hso("hosts: [shop.example.com]\n  scaleTargetRef: {name: web, service: web, port: 8080}"), "  namespace: web\n", "", 1),
			wantOut:      []string{"kind: ScaledObject", "host: shop.example.com"},
			noOut:        []string{"namespace"},
			wantFindings: []string{"changed: its routes move to ebb-interceptor"},
			noFindings:   []string{"invalid"},
			lossy:        true,
		},
		{
			sentence:     "an HTTPScaledObject without a target is skipped",
			input:        hso("hosts: [shop.example.com]\n  scaleTargetRef: {service: web, port: 8080}"),
			noOut:        []string{"ScaledObject", "ClusterTriggerAuthentication"},
			wantFindings: []string{"spec.scaleTargetRef.name: skipped: is missing"},
			lossy:        true,
		},
		{
			sentence:     "KEDA's directional pauses and force-activation map to Ebb's annotations",
			input:        so("", `- {type: rabbitmq, metadata: {queueName: a, hostFromEnv: H, value: "1"}}`, `autoscaling.keda.sh/paused-scale-out: "TRUE"`, `autoscaling.keda.sh/force-activation: "true"`),
			wantOut:      []string{`ebb.dev/paused-scale-out: "true"`, `ebb.dev/force-activation: "true"`},
			noOut:        []string{"keda.sh"},
			wantFindings: []string{"note: written as ebb.dev/paused-scale-out", "note: written as ebb.dev/force-activation"},
		},
		{
			sentence:     "a force-activation that is not true or false is reported and left out, its value bounded",
			input:        so("", `- {type: rabbitmq, metadata: {queueName: a, hostFromEnv: H, value: "1"}}`, `autoscaling.keda.sh/force-activation: "`+strings.Repeat("y", 200)+`"`),
			noOut:        []string{"force-activation"},
			wantFindings: []string{"changed: is \"" + strings.Repeat("y", 64) + "…\"; expected true or false: left out, so activation follows the triggers"},
			noFindings:   []string{strings.Repeat("y", 65)},
			lossy:        true,
		},
		{
			sentence:     "an apache-kafka trigger with one topic is Ebb's kafka trigger, unchanged otherwise",
			input:        so("", `- {type: apache-kafka, metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: " t ", lagThreshold: "5"}}`),
			wantOut:      []string{"type: kafka\n", "topic: t\n", `lagThreshold: "5"`},
			noOut:        []string{"apache-kafka"},
			wantFindings: []string{"spec.triggers[0].type: note: written as kafka"},
		},
		{
			sentence:     "an apache-kafka trigger's topic list, alone in its object, is one trigger per topic added up by a formula",
			input:        so("", `- {type: apache-kafka, metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: "a,b,a"}}`),
			wantOut:      []string{"formula: kafkaa + kafkab", `target: "10"`, "topic: a\n", "topic: b\n", "name: kafkaa", "name: kafkab"},
			wantFindings: []string{"lists 2 topics (a, b)", "added up by advanced.scalingModifiers"},
			lossy:        true,
		},
		{
			sentence:     "an apache-kafka topic list beside another trigger is not added up, and says so",
			input:        so("", `- {type: apache-kafka, metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: "a,b"}}`+"\n"+`- {type: rabbitmq, metadata: {queueName: q, hostFromEnv: H, value: "1"}}`),
			wantOut:      []string{"name: kafka-a", "name: kafka-b"},
			noOut:        []string{"formula"},
			wantFindings: []string{"the HPA follows the largest of their lags, not their total"},
			lossy:        true,
		},
		{
			sentence:     "an InterceptorRoute after its ScaledObject becomes its http trigger; both metrics of one host are two triggers",
			input:        so("", `- {type: external-push, metadata: {scalerAddress: "s:9090", interceptorRoute: r}}`) + "---\n" + route("r", "rules: [{hosts: [a.example]}]\n  scalingMetric: {concurrency: {targetValue: 5}, requestRate: {targetValue: 50}}"),
			wantOut:      []string{"name: a-example-concurrency", "name: a-example-rate", `targetConcurrency: "5"`, `targetRequestRate: "50"`, "host: a.example", `port: "80"`, "service: r", "kind: ClusterTriggerAuthentication"},
			noOut:        []string{"InterceptorRoute", "formula", "external-push", "scalerAddress"},
			wantFindings: []string{"replaced by 2 http triggers built from InterceptorRoute r", "InterceptorRoute ns/r: note: not written: it became the http triggers of ScaledObject ns/x"},
			lossy:        true,
		},
		{
			sentence:     "an InterceptorRoute of another namespace is not the one a ScaledObject names",
			input:        route("r", "rules: [{hosts: [a.example]}]\n  scalingMetric: {concurrency: {targetValue: 5}}") + "---\n" + strings.Replace(so("", `- {type: external-push, metadata: {scalerAddress: "s:9090", interceptorRoute: r}}`), "namespace: ns", "namespace: other", 1),
			wantOut:      []string{"type: external-push", "interceptorRoute: r"},
			wantFindings: []string{"InterceptorRoute that is not in this input", "InterceptorRoute ns/r: skipped: no ScaledObject of the input reads it"},
			lossy:        true,
		},
		{
			sentence:     "a route's hosts and paths of several rules are one trigger each, added up",
			input:        route("r", "rules: [{hosts: [a.example, b.example], paths: [{value: /x}]}, {hosts: [a.example], paths: [{value: /x/}, {value: /y}]}]\n  scalingMetric: {requestRate: {targetValue: 7, window: 2m}}") + "---\n" + so("", `- {type: external-push, metadata: {interceptorRoute: r}}`),
			wantOut:      []string{"formula: aexamplex + bexamplex + aexampley", `target: "7"`, "pathPrefix: /y", "window: 2m"},
			wantFindings: []string{"replaced by 3 http triggers", "window: changed: is longer than the span ebb-interceptor counts over"},
			lossy:        true,
		},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			res := convertFile(t, "in.yaml", []byte(tc.input))
			if len(res.Errors) > 0 {
				t.Fatalf("read errors: %v", res.Errors)
			}
			var out bytes.Buffer
			if err := convert.WriteDocuments(&out, res.Documents); err != nil {
				t.Fatal(err)
			}
			findings := string(findingsText(res))
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.noOut {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.wantFindings {
				if !strings.Contains(findings, w) {
					t.Errorf("findings lack %q:\n%s", w, findings)
				}
			}
			for _, w := range tc.noFindings {
				if strings.Contains(findings, w) {
					t.Errorf("findings have %q:\n%s", w, findings)
				}
			}
			if res.Lossy() != tc.lossy {
				t.Errorf("Lossy() = %v, want %v; findings:\n%s", res.Lossy(), tc.lossy, findings)
			}
		})
	}
}

// so writes a KEDA ScaledObject with extra spec lines, trigger lines and
// annotation lines.
func so(spec, triggers string, annotations ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata:\n  name: x\n  namespace: ns\n")
	if len(annotations) > 0 {
		b.WriteString("  annotations:\n")
		for _, a := range annotations {
			b.WriteString("    " + a + "\n")
		}
	}
	b.WriteString("spec:\n  scaleTargetRef: {name: t}\n")
	if spec != "" {
		b.WriteString("  " + spec + "\n")
	}
	b.WriteString("  triggers:\n")
	for _, l := range strings.Split(triggers, "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// route writes an InterceptorRoute in namespace ns for Service name, port
// 80, with spec lines.
func route(name, spec string) string {
	return "apiVersion: http.keda.sh/v1beta1\nkind: InterceptorRoute\nmetadata:\n  name: " + name + "\n  namespace: ns\nspec:\n  target: {service: " + name + ", port: 80}\n  " + spec + "\n"
}

// hso writes an HTTPScaledObject in namespace web with spec lines and
// annotation lines.
func hso(spec string, annotations ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: http.keda.sh/v1alpha1\nkind: HTTPScaledObject\nmetadata:\n  name: web\n  namespace: web\n")
	if len(annotations) > 0 {
		b.WriteString("  annotations:\n")
		for _, a := range annotations {
			b.WriteString("    " + a + "\n")
		}
	}
	b.WriteString("spec:\n  " + spec + "\n")
	return b.String()
}

// The ClusterTriggerAuthentication that gives the converted http triggers
// the interceptor's admin token is written once, just before the first
// ScaledObject that names it, unless the input holds one of that name.
func TestInterceptorAuthentication(t *testing.T) {
	one := hso("hosts: [a.example]\n  scaleTargetRef: {name: a, service: a, port: 80}")
	two := strings.Replace(hso("hosts: [b.example]\n  scaleTargetRef: {name: b, service: b, port: 80}"), "name: web", "name: other", 1)
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: web}\n"
	kinds := func(res *convert.Result) []string {
		var out []string
		for _, d := range res.Documents {
			var m struct{ Kind string }
			if err := sigsyaml.Unmarshal(d, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m.Kind)
		}
		return out
	}

	res := convertFile(t, "in.yaml", []byte(cm+"---\n"+one+"---\n"+two))
	if got, want := kinds(res), []string{"ConfigMap", "ClusterTriggerAuthentication", "ScaledObject", "ScaledObject"}; !slices.Equal(got, want) {
		t.Errorf("documents %v, want %v", got, want)
	}
	if n := strings.Count(string(findingsText(res)), "written once in this output"); n != 2 {
		t.Errorf("%d findings name the written ClusterTriggerAuthentication, want one per HTTPScaledObject:\n%s", n, findingsText(res))
	}

	own := "apiVersion: ebb.dev/v1alpha1\nkind: ClusterTriggerAuthentication\nmetadata: {name: ebb-interceptor}\nspec:\n  secretTargetRef: [{parameter: bearerToken, name: s, key: k}]\n"
	res = convertFile(t, "in.yaml", []byte(one+"---\n"+own))
	if got, want := kinds(res), []string{"ScaledObject", "ClusterTriggerAuthentication"}; !slices.Equal(got, want) {
		t.Errorf("with the input's own: documents %v, want %v", got, want)
	}
	if !strings.Contains(string(findingsText(res)), "which the input holds: it must give bearerToken") {
		t.Errorf("findings do not say the input's ClusterTriggerAuthentication serves:\n%s", findingsText(res))
	}

	res = convertFile(t, "in.yaml", []byte(cm))
	if got := kinds(res); !slices.Equal(got, []string{"ConfigMap"}) {
		t.Errorf("without an HTTPScaledObject: documents %v", got)
	}
}

// Read errors name the input, the document and the line in the input.
func TestReadErrors(t *testing.T) {
	input := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# second\nkind: [\n---\n42\n"
	res := convertFile(t, "in.yaml", []byte(input))
	var msgs []string
	for _, e := range res.Errors {
		msgs = append(msgs, e.Error())
	}
	want := []string{
		"in.yaml:2 (line 5): not valid YAML: yaml: line 6: did not find expected node content",
		"in.yaml:3 (line 8): expected a Kubernetes object (a mapping with apiVersion and kind), found a number",
	}
	if !slices.Equal(msgs, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}

// FuzzConvert: no input makes Convert panic, and whatever it writes reads
// back as YAML.
func FuzzConvert(f *testing.F) {
	for _, data := range corpus(f) {
		f.Add(data)
	}
	f.Add([]byte("--- {a: 1}\n...\n---\nkind: List\nitems: [1, {kind: ScaledObject, apiVersion: keda.sh/v1alpha1}]"))
	reg := registry(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		res := convert.Convert([]convert.Input{{Name: "fuzz", Data: data}}, convert.Options{Registry: reg})
		for _, f := range res.Findings {
			_ = f.String()
		}
		if len(res.Errors) > 0 {
			return
		}
		for _, d := range res.Documents {
			var v any
			if err := sigsyaml.Unmarshal(d, &v); err != nil {
				t.Fatalf("output document does not read back: %v\n%s", err, d)
			}
		}
	})
}
