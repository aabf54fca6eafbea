// SPDX-License-Identifier: Apache-2.0

package explain

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// ErrNotFound is returned by Gather when the ScaledObject does not exist.
var ErrNotFound = errors.New("not found")

// Config loads the kubeconfig the way `ebb explain` documents: the path
// given (the --kubeconfig flag), else the files in $KUBECONFIG, else
// ~/.kube/config; kubeContext, when set, picks a context. getenv reads the
// environment (os.Getenv). When there is no kubeconfig, the error says
// where it looked.
func Config(path, kubeContext string, getenv func(string) string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{}
	var looked []string
	switch {
	case path != "":
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("kubeconfig %s (--kubeconfig): %w", path, err)
		}
		rules.ExplicitPath = path
	case getenv("KUBECONFIG") != "":
		for _, p := range filepath.SplitList(getenv("KUBECONFIG")) {
			if p == "" {
				continue
			}
			looked = append(looked, p)
			if _, err := os.Stat(p); err == nil {
				rules.Precedence = append(rules.Precedence, p)
			}
		}
		if len(rules.Precedence) == 0 {
			return nil, fmt.Errorf("no kubeconfig: none of the files in $KUBECONFIG exists (%s); pass --kubeconfig", strings.Join(looked, ", "))
		}
	default:
		home := getenv("HOME")
		if home == "" {
			if h, err := os.UserHomeDir(); err == nil {
				home = h
			}
		}
		p := filepath.Join(home, ".kube", "config")
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("no kubeconfig: --kubeconfig is not set, $KUBECONFIG is not set, and %s does not exist", p)
		}
		rules.ExplicitPath = p
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

// NewClient is a client for Gather: client-go's types and Ebb's.
func NewClient(cfg *rest.Config) (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "ebb-explain"
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// Gather reads the facts about ScaledObject namespace/name: the object,
// its target's /scale, its HPA and the Events of both. Only the
// ScaledObject is required; what else cannot be read is recorded in Facts.
// Four to six GETs and LISTs, no watch.
func Gather(ctx context.Context, c client.Client, namespace, name string) (Facts, error) {
	var f Facts
	so := &v1alpha1.ScaledObject{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, so); err != nil {
		if apierrors.IsNotFound(err) {
			return f, fmt.Errorf("ScaledObject %s/%s: %w in the cluster (kubectl get ebbso -n %s lists the ScaledObjects there)", namespace, name, ErrNotFound, namespace)
		}
		return f, fmt.Errorf("read ScaledObject %s/%s: %w", namespace, name, err)
	}
	f.ScaledObject = so

	ref := so.Spec.ScaleTargetRef
	target := &unstructured.Unstructured{}
	target.SetAPIVersion(orDefault(ref.APIVersion, "apps/v1"))
	target.SetKind(orDefault(ref.Kind, "Deployment"))
	target.SetNamespace(namespace)
	target.SetName(ref.Name)
	scale := &unstructured.Unstructured{}
	scale.SetAPIVersion("autoscaling/v1")
	scale.SetKind("Scale")
	if err := c.SubResource("scale").Get(ctx, target, scale); err != nil {
		f.ScaleError = fmt.Sprintf("%s %s: %s", target.GetKind(), ref.Name, apiMessage(err))
	} else {
		n, found, err := unstructured.NestedInt64(scale.Object, "spec", "replicas")
		switch {
		case err != nil:
			f.ScaleError = fmt.Sprintf("%s %s: spec.replicas of its /scale: %v", target.GetKind(), ref.Name, err)
		default:
			if !found {
				n = 0
			}
			r := int32(n)
			f.Replicas = &r
		}
	}

	hpaName := so.Status.HPAName
	if hpaName == "" {
		hpaName = so.HPAName()
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	switch err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: hpaName}, hpa); {
	case err == nil:
		f.HPA = hpa
	case apierrors.IsNotFound(err):
	default:
		f.HPAError = apiMessage(err)
	}

	for _, obj := range []struct{ kind, name string }{{"ScaledObject", name}, {"HorizontalPodAutoscaler", hpaName}} {
		var list corev1.EventList
		err := c.List(ctx, &list, client.InNamespace(namespace),
			client.MatchingFields{"involvedObject.kind": obj.kind, "involvedObject.name": obj.name})
		if err != nil {
			f.EventsError = apiMessage(err)
			continue
		}
		f.Events = append(f.Events, list.Items...)
	}
	return f, nil
}

// apiMessage is an API error's message: the API server's words, which name
// the object and never carry a credential.
func apiMessage(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		if m := st.Status().Message; m != "" {
			return m
		}
		return string(st.Status().Reason)
	}
	return err.Error()
}
