package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	ebbv1alpha1 "github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/controlplane"
)

// demoNamespace holds the demo's objects.
const demoNamespace = "demo"

type demoOptions struct {
	// ExitAfter stops the demo after this long; 0 waits for ctx to end
	// (Ctrl-C or SIGTERM).
	ExitAfter time.Duration
}

func demoCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ebb demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ebb demo [--exit-after DURATION]")
		fmt.Fprintln(stderr, "\nStarts a local control plane (etcd, kube-apiserver) with Ebb's CRDs, creates an")
		fmt.Fprintln(stderr, "example ScaledObject in namespace demo and runs until Ctrl-C.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	var o demoOptions
	fs.DurationVar(&o.ExitAfter, "exit-after", 0, "stop after this long, e.g. 30s (0: run until Ctrl-C or SIGTERM)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return runDemo(ctx, stdout, o)
}

// runDemo starts the control plane, creates the example and prints how to
// reach it, waits, and stops everything it started before it returns.
func runDemo(ctx context.Context, out io.Writer, o demoOptions) (retErr error) {
	fmt.Fprintln(out, "Starting a local control plane (etcd, kube-apiserver) with Ebb's CRDs...")
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	cp, err := controlplane.New(startCtx, controlplane.Options{})
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "Stopping the control plane...")
		if err := cp.Stop(); err != nil {
			if retErr == nil {
				retErr = err
			}
			return
		}
		fmt.Fprintln(out, "Stopped.")
	}()

	if err := createDemoObjects(ctx, cp.Client); err != nil {
		return err
	}
	stored, err := storedYAML(ctx, cp.Client, ebbv1alpha1.GroupVersion.WithKind("ScaledObject"), demoNamespace, "worker")
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "\nAPI server:  %s\n", cp.URL())
	fmt.Fprintf(out, "kubeconfig:  %s\n", cp.Kubeconfig)
	fmt.Fprintf(out, "\nTry:  kubectl --kubeconfig %s get ebbso -n %s\n", cp.Kubeconfig, demoNamespace)
	fmt.Fprintf(out, "      kubectl --kubeconfig %s get ebb -A\n", cp.Kubeconfig)
	fmt.Fprintf(out, "\nScaledObject %s/worker as the API server stored it (defaults filled in):\n---\n%s---\n", demoNamespace, stored)
	fmt.Fprintln(out, "\nNo Ebb operator runs yet, so nothing scales: the object is stored and validated only.")

	var deadline <-chan time.Time
	if o.ExitAfter > 0 {
		fmt.Fprintf(out, "Running for %s.\n", o.ExitAfter)
		t := time.NewTimer(o.ExitAfter)
		defer t.Stop()
		deadline = t.C
	} else {
		fmt.Fprintln(out, "Press Ctrl-C to stop.")
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(out)
	case <-deadline:
	}
	return nil
}

// createDemoObjects makes namespace demo with a Deployment worker, a Secret
// and TriggerAuthentication for RabbitMQ, and a ScaledObject that scales
// worker on the length of queue work.
func createDemoObjects(ctx context.Context, c client.Client) error {
	labels := map[string]string{"app": "worker"}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "worker"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: "worker", Image: "registry.example/worker:1",
					}}},
				},
			},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "rabbitmq"},
			StringData: map[string]string{"host": "amqp://guest:guest@127.0.0.1:5672/"},
		},
		&ebbv1alpha1.TriggerAuthentication{
			ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "rabbitmq"},
			Spec: ebbv1alpha1.TriggerAuthenticationSpec{
				SecretTargetRef: []ebbv1alpha1.KeyRef{{Parameter: "host", Name: "rabbitmq", Key: "host"}},
			},
		},
		&ebbv1alpha1.ScaledObject{
			ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "worker"},
			Spec: ebbv1alpha1.ScaledObjectSpec{
				ScaleTargetRef: ebbv1alpha1.ScaleTarget{Name: "worker"},
				Triggers: []ebbv1alpha1.Trigger{{
					Type:              "rabbitmq",
					Name:              "work-queue",
					Metadata:          map[string]string{"queueName": "work", "mode": "QueueLength", "value": "10"},
					AuthenticationRef: &ebbv1alpha1.AuthenticationRef{Name: "rabbitmq"},
				}},
			},
		},
	}
	for _, obj := range objs {
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

// storedYAML reads an object as the API server returns it, without its
// managed fields, as YAML.
func storedYAML(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, namespace, name string) ([]byte, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		return nil, fmt.Errorf("read %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	u.SetManagedFields(nil)
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s as YAML: %w", gvk.Kind, namespace, name, err)
	}
	return b, nil
}
