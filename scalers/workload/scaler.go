// SPDX-License-Identifier: Apache-2.0

package workload

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/ebbscale/ebb/scalers"
)

// TypeName is the trigger type, as written in spec.triggers[].type.
const TypeName = "kubernetes-workload"

// syncTimeout bounds the first LIST of a new cache.
const syncTimeout = 30 * time.Second

// Type is the kubernetes-workload trigger type. It owns the pod caches its
// scalers share.
type Type struct {
	kube kubernetes.Interface
	pods *scalers.Pool[cacheKey, *podCache]
	// disabled refuses every trigger (NewDisabledType).
	disabled bool
}

type cacheKey struct {
	namespace, selector string
}

var (
	_ scalers.Type   = (*Type)(nil)
	_ scalers.Scaler = (*scaler)(nil)
)

// NewType returns the kubernetes-workload type reading pods through kube.
// With a nil kube (the CLI) it validates and describes triggers, and their
// reads fail.
func NewType(kube kubernetes.Interface) *Type {
	t := &Type{kube: kube}
	t.pods = scalers.NewPool(t.open, func(c *podCache) { c.stop() })
	return t
}

// NewDisabledType returns the kubernetes-workload type of an operator that
// may not read pods: it refuses every trigger, saying how an administrator
// enables them.
func NewDisabledType() *Type {
	t := NewType(nil)
	t.disabled = true
	return t
}

// errDisabled is the refusal of a disabled Type.
var errDisabled = errors.New("kubernetes-workload triggers are not enabled in this Ebb install: the operator may not read pods (an administrator enables them with the chart value kubernetesWorkload.enabled=true)")

// Name is "kubernetes-workload".
func (t *Type) Name() string { return TypeName }

// Config returns a zero *Config.
func (t *Type) Config() any { return &Config{} }

// Validate checks a trigger's metadata without I/O.
func (t *Type) Validate(tr scalers.Trigger) error {
	if t.disabled {
		return fmt.Errorf("%s: %w", tr, errDisabled)
	}
	_, err := parse(tr)
	return err
}

// OpenConnections is the number of pod caches (watches) open.
func (t *Type) OpenConnections() int {
	_, open := t.pods.Stats()
	return open
}

// New builds the trigger's Scaler; its cache starts on the first read.
func (t *Type) New(tr scalers.Trigger) (scalers.Scaler, error) {
	if t.disabled {
		return nil, fmt.Errorf("%s: %w", tr, errDisabled)
	}
	s, err := parse(tr)
	if err != nil {
		return nil, err
	}
	mt := tr.MetricTypeOrDefault()
	return &scaler{
		typ: t, trigger: tr.String(),
		spec:  scalers.MetricSpec{Name: scalers.MetricName(tr, "pods"), Target: s.cfg.Value, ActivationTarget: s.cfg.ActivationValue, Type: mt},
		lease: t.pods.Acquire(cacheKey{namespace: tr.Namespace, selector: s.selector.String()}),
	}, nil
}

type scaler struct {
	typ     *Type
	trigger string
	spec    scalers.MetricSpec
	lease   *scalers.Lease[cacheKey, *podCache]
}

func (s *scaler) Metric() scalers.MetricSpec { return s.spec }

// Read counts the matching pods that have not terminated (neither
// Succeeded nor Failed), as KEDA does.
func (s *scaler) Read(ctx context.Context) (scalers.Reading, error) {
	c, err := s.lease.Get(ctx)
	if err != nil {
		return scalers.Reading{}, fmt.Errorf("%s: %w", s.trigger, err)
	}
	n := float64(c.count())
	return scalers.Reading{Value: n, Active: scalers.IsActive(n, s.spec.ActivationTarget)}, nil
}

func (s *scaler) Close() error {
	s.lease.Release()
	return nil
}

// podCache is a LIST+WATCH of the pods of one namespace matching one
// selector, each pod kept as its name and phase only.
type podCache struct {
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
	done     chan struct{}
}

func (t *Type) open(ctx context.Context, key cacheKey) (*podCache, error) {
	if t.kube == nil {
		return nil, errors.New("kubernetes-workload triggers are read by the operator, which has cluster access; this program has none")
	}
	pods := t.kube.CoreV1().Pods(key.namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = key.selector
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = key.selector
			return pods.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	if err := inf.SetTransform(slim); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c := &podCache{informer: inf, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		inf.RunWithContext(runCtx)
	}()
	syncCtx, stop := context.WithTimeout(ctx, syncTimeout)
	defer stop()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		c.stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("listing the pods of namespace %s matching the podSelector: not done within %s", key.namespace, syncTimeout)
	}
	return c, nil
}

func (c *podCache) stop() {
	c.cancel()
	<-c.done
}

func (c *podCache) count() int {
	n := 0
	for _, o := range c.informer.GetStore().List() {
		if p, ok := o.(*corev1.Pod); ok && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			n++
		}
	}
	return n
}

// slim keeps of a pod what counting needs: its key, version and phase.
func slim(o any) (any, error) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return o, nil
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, ResourceVersion: p.ResourceVersion},
		Status:     corev1.PodStatus{Phase: p.Status.Phase},
	}, nil
}
