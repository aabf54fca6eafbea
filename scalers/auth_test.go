// SPDX-License-Identifier: Apache-2.0

package scalers_test

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

func jobWithEnv(container string) *v1alpha1.ScaledJob {
	return &v1alpha1.ScaledJob{
		ObjectMeta: metav1.ObjectMeta{Name: "encoder", Namespace: "media"},
		Spec: v1alpha1.ScaledJobSpec{
			EnvSourceContainerName: container,
			JobTargetRef: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "sidecar", Env: []corev1.EnvVar{{Name: "RABBIT_HOST", Value: "amqp://sidecar/"}}},
				{Name: "encoder", Env: []corev1.EnvVar{{Name: "RABBIT_HOST", ValueFrom: &corev1.EnvVarSource{
					SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "rabbit"}, Key: "host"}}}}},
			}}}},
			Triggers: []v1alpha1.Trigger{{Type: "rabbitmq", Name: "videos", Metadata: map[string]string{"hostFromEnv": "RABBIT_HOST", "queueName": "videos"}}},
		},
	}
}

// A ScaledJob's `...FromEnv` parameters come from its Job template's
// containers: the first one, or envSourceContainerName; Secrets are read by
// GET in the ScaledJob's namespace.
func TestResolveJobReadsTheJobTemplatesEnvironment(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "rabbit", Namespace: "media"},
		Data:       map[string][]byte{"host": []byte("amqp://user:pw@rabbit/")},
	}).Build()
	r := &scalers.AuthResolver{Reader: c}

	for _, tc := range []struct{ container, want string }{{"", "amqp://sidecar/"}, {"encoder", "amqp://user:pw@rabbit/"}} {
		res, err := r.ResolveJob(t.Context(), jobWithEnv(tc.container), 0)
		if err != nil {
			t.Fatalf("container %q: %v", tc.container, err)
		}
		if res.Env["RABBIT_HOST"] != tc.want {
			t.Errorf("container %q: RABBIT_HOST = %q, want %q", tc.container, res.Env["RABBIT_HOST"], tc.want)
		}
	}
	_, err := r.ResolveJob(t.Context(), jobWithEnv("nope"), 0)
	if err == nil || !strings.Contains(err.Error(), `the job template has no container "nope"`) || !strings.Contains(err.Error(), `trigger 0 "videos"`) {
		t.Errorf("unknown container: %v", err)
	}
}
