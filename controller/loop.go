// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// LoopTrigger is one built trigger handed to the scale loop.
type LoopTrigger struct {
	Name   string
	Type   string
	Scaler scalers.Scaler
}

// ObjectState is what the reconciler hands the scale loop with a
// ScaledObject: its resolved target and built triggers, and the parts of the
// status the reconciler decides.
type ObjectState struct {
	Object   *v1alpha1.ScaledObject
	Target   Target
	Triggers []LoopTrigger
	// Composite, when set, replaces the triggers' metrics with one.
	Composite *Composite
	// Resources are the metrics of the resource triggers (cpu, memory),
	// which the HPA reads by itself: the loop only keeps them for the HPA.
	Resources []scalers.MetricSpec
	// Current is the target's replica count as the reconciler just took it:
	// read from /scale when ScaleRead, else from the target watch.
	Current   int32
	ScaleRead bool
	// Base is the reconciler's part of the status (Ready, HPA name, ...).
	Base StatusBase
}

// ScaleLoop polls every ScaledObject's triggers on a shared scheduler, keeps
// the metric store, moves targets between zero and one (and to fallback or
// paused counts), records events and writes status. It is a
// controller-runtime Runnable that runs on the leader only.
type ScaleLoop struct {
	Status StatusWriter
	Scales ScaleClient
	// Targets, when set, gives the counts of the targets it covers: a poll
	// takes the count there instead of re-reading /scale (targets.go).
	Targets TargetCounts
	Events  record.EventRecorder
	Store   *Store
	Clock   clock.WithTicker
	Workers int
	Log     logr.Logger
	// Metrics, when set, records reads and scale decisions (metrics.go).
	Metrics *Metrics
	// Recheck, when set, is asked before a poll whose object has a trigger
	// whose last read failed: it resolves the object's credentials again and
	// says whether they changed (then the reconciler rebuilds the object,
	// and this poll reads nothing). See authrefresh.go.
	Recheck func(ctx context.Context, key types.NamespacedName) bool
	// ReadBudget is how long a poll waits for its triggers' reads (default
	// DefaultReadBudget). A read still running then goes on in the
	// background, holding no worker: the trigger is pending, and the read's
	// end polls the object again.
	ReadBudget time.Duration
	// Jitter returns a number in [0, 1) for the backoff of failing reads
	// (default math/rand/v2's Float64); tests make it constant.
	Jitter func() float64
	// HPASyncPeriod is the cluster's HPA sync period (default
	// DefaultHPASyncPeriod): while a target runs, the adapter serves the HPA
	// no stored value older than a sixteenth of it (Servable).
	HPASyncPeriod time.Duration

	once    sync.Once
	sched   *Scheduler[types.NamespacedName]
	objects objectSet[*loopObject]
}

type loopObject struct {
	key types.NamespacedName

	// mu serializes polls of the object and guards everything below.
	mu        sync.Mutex
	state     ObjectState
	triggers  []*loopTrigger
	composite *loopTrigger
	current   int32
	readAt    time.Time // when current was last read from /scale
	readRV    string    // the target's resourceVersion at that read
	fullAt    time.Time // when the triggers were last read (not probed)
	lastAct   *time.Time
	written   *v1alpha1.ScaledObjectStatus // the status last written
	writtenAt time.Time
	closed    bool
	// stops end the triggers' push notifications (scalers.Notifier).
	stops []func()
	// idle mirrors current == 0, for wakes that must not wait for mu.
	idle atomic.Bool
	// replicas is the target's replica count the adapter's fallback values
	// use, read without mu (a poll holds mu through its reads): the poll's
	// count on the leader, the leader's status on a follower (FollowStatus).
	replicas atomic.Int32
}

type loopTrigger struct {
	name   string
	typ    string
	spec   scalers.MetricSpec
	scaler scalers.Scaler
	reads  scalers.Coalescer[Sample]
	obs    *triggerMetrics
	// panics reports a read whose scaler panicked (panics.go).
	panics *panicReport

	// closed is set when the loop lets the trigger go, before its scaler is
	// closed: a read in flight then is not the trigger's health.
	closed atomic.Bool
	// authErr, when set, is why the trigger's credentials no longer resolve
	// (a Secret deleted, say): its reads fail with it, and the scaler built
	// with the last credentials is kept for when they resolve again.
	authErr atomic.Pointer[error]
	// interval is the polling interval, and jitter the random source, of
	// the backoff after a failed read (ReadBackoff).
	interval time.Duration
	jitter   func() float64

	mu   sync.Mutex
	last Sample
	// pending says a poll's read outlasted the read budget and goes on in
	// the background; late says it has ended since, and the next poll takes
	// its sample instead of reading again. A trigger has at most one such
	// read.
	pending, late bool
	// retryAt is when a trigger whose last read failed may be read again by
	// a poll (ReadBackoff); zero after a success.
	retryAt time.Time
	// leaderFailures is the consecutive failures the leader last reported
	// in status, on a follower (followed says it reported some).
	leaderFailures int32
	followed       bool
}

func (l *ScaleLoop) init() {
	l.once.Do(func() {
		if l.Clock == nil {
			l.Clock = clock.RealClock{}
		}
		if l.Store == nil {
			l.Store = NewStore()
		}
		if l.Workers <= 0 {
			l.Workers = 16
		}
		if l.ReadBudget <= 0 {
			l.ReadBudget = DefaultReadBudget
		}
		if l.Jitter == nil {
			l.Jitter = rand.Float64
		}
		if l.HPASyncPeriod <= 0 {
			l.HPASyncPeriod = DefaultHPASyncPeriod
		}
		l.sched = NewScheduler(l.Clock, l.Workers, l.poll).GroupBy(namespaceOf)
	})
}

// Start runs the loop until ctx ends.
func (l *ScaleLoop) Start(ctx context.Context) error {
	l.init()
	err := l.sched.Start(ctx)
	l.objects.closeAll()
	return err
}

// NeedLeaderElection: only the leader scales.
func (l *ScaleLoop) NeedLeaderElection() bool { return true }

// Upsert makes the loop poll a ScaledObject with the given triggers, at once.
// The loop owns the scalers from here on and closes those it replaces.
func (l *ScaleLoop) Upsert(st ObjectState) {
	l.init()
	key := types.NamespacedName{Namespace: st.Object.Namespace, Name: st.Object.Name}
	o := &loopObject{key: key, state: st, current: st.Current}
	if st.ScaleRead {
		o.readAt = l.Clock.Now()
	}
	interval := st.Object.Spec.PollingIntervalDuration()
	keep := st.Triggers
	if st.Composite != nil {
		keep = append(slices.Clip(keep), LoopTrigger{Name: CompositeMetricName, Type: "composite"})
	}
	l.Metrics.forget(key, keep)
	for _, t := range st.Triggers {
		spec := t.Scaler.Metric()
		o.triggers = append(o.triggers, &loopTrigger{name: t.Name, typ: t.Type, spec: spec, scaler: t.Scaler, obs: l.Metrics.trigger(key, t.Name, t.Type, spec),
			interval: interval, jitter: l.Jitter,
			panics: &panicReport{object: st.Object, events: l.Events, log: l.Log.WithValues("scaledObject", key), metrics: l.Metrics, clock: l.Clock, trigger: t.Name, typ: t.Type}})
	}
	if st.Composite != nil {
		o.composite = &loopTrigger{name: CompositeMetricName, typ: "composite", spec: st.Composite.Spec,
			obs: l.Metrics.trigger(key, CompositeMetricName, "composite", st.Composite.Spec)}
	}
	if la := st.Object.Status.LastActiveTime; la != nil {
		t := la.Time
		o.lastAct = &t
	}
	o.noteCurrent()
	for _, t := range o.triggers {
		if n, ok := t.scaler.(scalers.Notifier); ok {
			o.stops = append(o.stops, n.Notify(func() { l.wake(key, o) }))
		}
	}
	// Carry the last readings over, so a spec change does not forget health.
	if old, ok := l.objects.put(key, o); ok {
		// o is published: a poll scheduled for the old object may take it
		// now, so it is written under its lock (then the old one's).
		o.mu.Lock()
		old.mu.Lock()
		o.lastAct = carryReadings(o.triggers, old.triggers, o.lastAct, old.lastAct)
		o.written, o.writtenAt = old.written, old.writtenAt
		old.mu.Unlock()
		o.mu.Unlock()
		old.close()
	}
	l.Store.SetMetrics(key, o.metricNames())
	l.sched.Schedule(key, l.Clock.Now())
}

// wake polls a ScaledObject at rest at zero at once, when one of its
// triggers' sources signals (scalers.Notifier): the probe runs now instead
// of at the next activation probe interval.
func (l *ScaleLoop) wake(key types.NamespacedName, o *loopObject) {
	if o.idle.Load() && l.object(key) == o {
		l.sched.Wake(key)
	}
}

// Remove stops polling a ScaledObject and closes its scalers.
func (l *ScaleLoop) Remove(key types.NamespacedName) {
	l.init()
	o, ok := l.objects.remove(key)
	l.sched.Remove(key)
	l.Store.SetMetrics(key, nil)
	l.Metrics.forget(key, nil)
	if ok {
		o.close()
	}
}

// SetAuthErrors marks the triggers of key whose credentials no longer
// resolve (errs[i] for trigger i; nil clears it): see loopTrigger.authErr.
func (l *ScaleLoop) SetAuthErrors(key types.NamespacedName, errs []error) {
	l.init()
	if o := l.object(key); o != nil {
		setAuthErrors(o.triggers, errs)
	}
}

// Has says whether the loop polls key.
func (l *ScaleLoop) Has(key types.NamespacedName) bool {
	l.init()
	return l.objects.has(key)
}

func (o *loopObject) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	for _, stop := range o.stops {
		stop()
	}
	for _, t := range o.triggers {
		t.closed.Store(true)
		_ = t.scaler.Close()
	}
}

// noteCurrent publishes o.current to the readers that do not take mu.
// Called with mu held (or before o is shared).
func (o *loopObject) noteCurrent() {
	o.idle.Store(o.current == 0)
	o.replicas.Store(o.current)
}

func (o *loopObject) metricNames() []string {
	if o.composite != nil {
		return []string{o.composite.spec.Name}
	}
	names := make([]string, len(o.triggers))
	for i, t := range o.triggers {
		names[i] = t.spec.Name
	}
	return names
}

func (t *loopTrigger) lastSample() Sample {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// errObjectClosed is a read's error when the loop let its ScaledObject go
// (replaced or removed it) during the read: the scalers are closed, and the
// read says nothing of the source.
var errObjectClosed = fmt.Errorf("%w: the ScaledObject changed during the read", ErrMetricUnavailable)

// read reads the trigger's source once (merging concurrent reads) and
// records the sample. A probe uses the scaler's batched activation check
// when it has one. A trigger the loop let go reads nothing and records
// nothing: its sample's error is errObjectClosed.
func (t *loopTrigger) read(ctx context.Context, clk clock.Clock, probe bool) Sample {
	if t.closed.Load() {
		return Sample{Err: errObjectClosed}
	}
	key := "read"
	p, canProbe := t.scaler.(scalers.Prober)
	if probe && canProbe {
		key = "probe"
	}
	s, _ := t.reads.Do(ctx, key, func(ctx context.Context) (Sample, error) {
		var r scalers.Reading
		var err error
		start := time.Now()
		if ae := t.authErr.Load(); ae != nil {
			err = *ae
		} else if key == "probe" {
			r, err = t.panics.readScaler(func() (scalers.Reading, error) { return p.Probe(ctx) })
		} else {
			r, err = t.panics.readScaler(func() (scalers.Reading, error) { return t.scaler.Read(ctx) })
		}
		if err != nil && t.closed.Load() {
			return Sample{Err: errObjectClosed}, nil
		}
		t.obs.read(time.Since(start), r.Value, r.Active, err)
		t.mu.Lock()
		defer t.mu.Unlock()
		s := Sample{Time: clk.Now()}
		if err != nil {
			s.Err = err
			s.Failures = t.last.Failures + 1
			s.Value = t.last.Value // kept for status only; never served
			t.retryAt = s.Time.Add(t.backoff(s.Failures))
		} else {
			s.Value, s.Active = r.Value, r.Active
			t.retryAt = time.Time{}
		}
		t.last = s
		return s, nil
	})
	return s
}

func (l *ScaleLoop) object(key types.NamespacedName) *loopObject {
	return l.objects.get(key)
}

// poll is the scheduler's job for one ScaledObject.
func (l *ScaleLoop) poll(ctx context.Context, key types.NamespacedName) (time.Duration, bool) {
	o := l.object(key)
	if o == nil {
		return 0, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, false
	}
	so := o.state.Object
	spec := &so.Spec
	interval := spec.PollingIntervalDuration()
	log := l.Log.WithValues("scaledObject", key)

	if l.Recheck != nil && failing(o.triggers) && l.Recheck(ctx, key) {
		// New credentials: the rebuilt object is polled as soon as it is
		// handed over; the failing ones are not tried again.
		return interval, true
	}

	// Read every trigger, in parallel: a slow source must not delay the
	// others, and none holds the worker past the read budget
	// (pollTriggers). At zero replicas between full polls, a cheap
	// (batched) probe will do.
	now := l.Clock.Now()
	probe := o.current == 0 && !o.fullAt.IsZero() && now.Sub(o.fullAt) < interval
	if !probe {
		o.fullAt = now
	}
	l.pollTriggers(ctx, o, probe, interval)
	if ctx.Err() != nil {
		return 0, false
	}
	health := o.health(l.Clock.Now(), interval)
	if o.composite != nil {
		cs := l.evaluateComposite(o)
		known := cs.Err == nil
		for i := range health {
			health[i].Active = false
			known = known && health[i].Known
		}
		health = append(health, TriggerHealth{Name: CompositeMetricName, Value: cs.Value, Known: known, Active: known && cs.Active})
	}

	now = l.Clock.Now()
	if n, found, _ := l.targetCount(o); found {
		// The target watch's count: no request.
		o.current = n
	} else if now.Sub(o.readAt) >= o.countRefresh(interval) {
		if s, err := l.Scales.GetScale(ctx, key.Namespace, o.state.Target); err == nil {
			o.current, o.readAt, o.readRV = s.Replicas, now, s.ResourceVersion
		} else {
			log.Error(err, "Reading the target's replica count")
		}
	}
	in := o.inputs(now, health)
	d := Decide(in)
	if d.Replicas != nil && o.readAt != now {
		// Decide on a fresh count before moving the target: read from
		// /scale, whatever the watch said.
		s, err := l.Scales.GetScale(ctx, key.Namespace, o.state.Target)
		if err != nil {
			log.Error(err, "Reading the target's replica count")
			return l.nextPoll(o, d, interval), true
		}
		o.current, o.readAt, o.readRV = s.Replicas, now, s.ResourceVersion
		in.Current = s.Replicas
		d = Decide(in)
	}
	o.lastAct = d.LastActive
	desired := o.current
	if d.Replicas != nil {
		from := o.current
		// Only at the version just read: a target changed since (by hand,
		// by the HPA) is decided again on its new count.
		err := l.Scales.SetReplicas(ctx, key.Namespace, o.state.Target, *d.Replicas, o.readRV)
		l.Metrics.decision(key, from, *d.Replicas, d.Reason, err)
		if apierrors.IsConflict(err) {
			log.V(1).Info("The target changed since its count was read; deciding again", "replicas", *d.Replicas)
			o.readAt = time.Time{}
			o.noteCurrent()
			return conflictRetry, true
		}
		if err != nil {
			log.Error(err, "Scaling the target", "replicas", *d.Replicas)
			l.Events.Eventf(so, corev1.EventTypeWarning, "ScaleFailed", "scaling %s %s from %d to %d failed: %s", o.state.Target.Kind, o.state.Target.Name, from, *d.Replicas, apiReason(err))
		} else {
			o.current, desired = *d.Replicas, *d.Replicas
			log.Info("Scaled the target", "from", from, "to", *d.Replicas, "reason", d.Reason)
			l.Events.Eventf(so, corev1.EventTypeNormal, d.Reason, "%s %s: %s", o.state.Target.Kind, o.state.Target.Name, d.Message)
		}
	}
	o.noteCurrent()
	l.writeStatus(ctx, o, d, desired, now)
	return l.nextPoll(o, d, interval), true
}

// conflictRetry is how soon a poll whose move met a target changed since its
// read runs again, to decide on the new count.
const conflictRetry = 100 * time.Millisecond

// targetCount is the target's count from the target watch (Targets), when
// it covers the target.
func (l *ScaleLoop) targetCount(o *loopObject) (n int32, found, watched bool) {
	if l.Targets == nil {
		return 0, false, false
	}
	return l.Targets.Replicas(o.key.Namespace, o.state.Target)
}

// countRefresh is how stale the cached replica count may get before a poll
// re-reads /scale: every polling interval while the target runs, so status
// follows the HPA; at zero, a decision that would move the target re-reads
// the count first anyway, so a slow refresh (for a count changed by hand)
// will do. This keeps 10,000 idle ScaledObjects from costing 333 GETs a
// second.
func (o *loopObject) countRefresh(interval time.Duration) time.Duration {
	if o.current == 0 {
		return max(10*interval, 5*time.Minute)
	}
	return interval
}

// nextPoll is the delay to the next poll: the activation probe interval while
// the target rests at zero, and never past the end of a cooldown.
func (l *ScaleLoop) nextPoll(o *loopObject, d Decision, interval time.Duration) time.Duration {
	next := interval
	spec := &o.state.Object.Spec
	if o.current == 0 && !d.Paused && !d.PausedScaleOut {
		next = min(next, spec.ActivationProbeInterval())
	}
	if d.CooldownRemaining > 0 && d.CooldownRemaining < next {
		next = d.CooldownRemaining
	}
	// No sooner than some trigger may be read again: each failing one backs
	// off, and a pending one polls the object when its read ends.
	now := l.Clock.Now()
	readable := interval
	if len(o.triggers) == 0 {
		readable = 0
	}
	for _, t := range o.triggers {
		t.mu.Lock()
		if !t.pending {
			readable = min(readable, max(t.retryAt.Sub(now), 0))
		}
		t.mu.Unlock()
	}
	return max(next, readable)
}

// health is the triggers' state for Decide. A trigger whose read is
// pending is known only while its last successful sample is younger than
// the polling interval (what the adapter would still serve): a read that
// has not answered is never taken for a value, least of all a zero.
func (o *loopObject) health(now time.Time, interval time.Duration) []TriggerHealth {
	h := make([]TriggerHealth, len(o.triggers))
	for i, t := range o.triggers {
		t.mu.Lock()
		s, pending := t.last, t.pending
		t.mu.Unlock()
		known := s.Err == nil && !s.Time.IsZero() && (!pending || now.Sub(s.Time) < interval)
		h[i] = TriggerHealth{Name: t.name, Value: s.Value, Known: known, Active: known && s.Active, Failures: s.Failures}
	}
	return h
}

func (o *loopObject) inputs(now time.Time, health []TriggerHealth) Inputs {
	so := o.state.Object
	spec := &so.Spec
	in := Inputs{
		Now: now, Created: so.CreationTimestamp.Time,
		Min: spec.MinReplicas(), Max: spec.MaxReplicas(), Idle: spec.IdleReplicaCount,
		Cooldown: spec.CooldownPeriodDuration(), InitialCooldown: spec.InitialCooldownPeriodDuration(),
		Fallback: spec.Fallback, Current: o.current, LastActive: o.lastAct, Triggers: health,
	}
	if spec.Advanced != nil {
		in.ScaleToZero = spec.Advanced.ScaleToZero
	}
	in.Paused, in.PausedReplicas = PauseOf(so)
	in.Controls = ControlsOf(so)
	return in
}

// ExternalMetric returns the value the HPA should see for one metric: the
// stored sample while it is servable (Servable: for a moment while the
// target runs, for one polling interval at zero), else a new read through the
// same scaler, merged with concurrent ones; for a scalingModifiers formula,
// the formula over its triggers, each read through likewise; the fallback
// value while a trigger is in fallback. On a follower, which does not poll,
// every value is read through, and the fallback state and replica count are
// the leader's (FollowStatus). Safe for concurrent use; called by the
// metrics adapter.
func (l *ScaleLoop) ExternalMetric(ctx context.Context, ref MetricRef) (float64, error) {
	l.init()
	key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.ScaledObject}
	for attempt := 0; ; attempt++ {
		o := l.object(key)
		if o == nil {
			return 0, ErrMetricNotFound
		}
		v, err := l.externalMetric(ctx, o, ref)
		if errors.Is(err, errObjectClosed) && attempt == 0 {
			// Replaced during the read: ask the object that replaced it.
			continue
		}
		return v, err
	}
}

func (l *ScaleLoop) externalMetric(ctx context.Context, o *loopObject, ref MetricRef) (float64, error) {
	// The object's fields read here are set at Upsert and never change.
	so := o.state.Object
	interval := so.Spec.PollingIntervalDuration()
	var t *loopTrigger
	if o.composite != nil && o.composite.spec.Name == ref.Metric {
		t = o.composite
	}
	for _, c := range o.triggers {
		if c.spec.Name == ref.Metric {
			t = c
		}
	}
	if t == nil {
		return 0, ErrMetricNotFound
	}
	running := o.replicas.Load() > 0
	s, ok := l.stored(t, interval, running)
	switch {
	case ok:
	case t == o.composite:
		s = l.readComposite(ctx, o, interval, running)
	default:
		s = t.read(ctx, l.Clock, false)
		if !errors.Is(s.Err, errObjectClosed) {
			l.Store.Put(ref, s)
		}
	}
	if errors.Is(s.Err, errObjectClosed) {
		return 0, s.Err
	}
	if fb := so.Spec.Fallback; fb != nil && o.inFallback(fb) {
		cur := o.replicas.Load()
		return FallbackValue(t.spec, FallbackReplicas(fb, cur), cur), nil
	}
	if s.Err != nil {
		// Scalers keep credentials out of their errors; this also strips
		// any URL user information, since the HPA shows the text.
		return 0, fmt.Errorf("%w: %s", ErrMetricUnavailable, sanitize(s.Err.Error(), 512))
	}
	if s.Time.IsZero() {
		return 0, fmt.Errorf("%w: not read yet", ErrMetricUnavailable)
	}
	return s.Value, nil
}

// stored returns t's last sample, and whether the adapter may serve it
// without reading the source again: while it is servable (Servable, on the
// loop's clock), or while a failed read's backoff runs (ReadBackoff), so that
// the HPA's requests do not hammer a failing source. A composite sample's
// time is its oldest input's, so the same rule bounds the age of every value
// behind a formula.
func (l *ScaleLoop) stored(t *loopTrigger, interval time.Duration, running bool) (Sample, bool) {
	t.mu.Lock()
	s, retryAt := t.last, t.retryAt
	t.mu.Unlock()
	now := l.Clock.Now()
	return s, Servable(s.Time, now, interval, l.HPASyncPeriod, running) || (s.Err != nil && now.Before(retryAt))
}

// readComposite reads through the triggers of o's formula whose samples are
// not to be served as stored (each merged with the reads in flight on it,
// and all at once), then evaluates the formula; concurrent calls share one
// evaluation.
func (l *ScaleLoop) readComposite(ctx context.Context, o *loopObject, interval time.Duration, running bool) Sample {
	s, _ := o.composite.reads.Do(ctx, "read", func(ctx context.Context) (Sample, error) {
		var stale []*loopTrigger
		for _, t := range o.triggers {
			if _, ok := l.stored(t, interval, running); !ok {
				stale = append(stale, t)
			}
		}
		var closed atomic.Bool
		readTriggers(ctx, l.Clock, stale, false, interval, func(_ *loopTrigger, s Sample) {
			if errors.Is(s.Err, errObjectClosed) {
				closed.Store(true)
			}
		})
		if closed.Load() {
			return Sample{Err: errObjectClosed}, nil
		}
		return l.evaluateComposite(o), nil
	})
	return s
}

// evaluateComposite evaluates o's formula over its triggers' last samples
// and records the result, unless a newer one is recorded already.
func (l *ScaleLoop) evaluateComposite(o *loopObject) Sample {
	c := o.composite
	cs := o.state.Composite.Evaluate(o.triggers, l.Clock.Now())
	c.mu.Lock()
	if !cs.Time.Before(c.last.Time) {
		c.last = cs
	}
	c.mu.Unlock()
	c.obs.set(cs.Value, cs.Active, cs.Err)
	l.Store.Put(MetricRef{Namespace: o.key.Namespace, ScaledObject: o.key.Name, Metric: c.spec.Name}, cs)
	return cs
}

// FollowStatus takes, on a replica that does not lead, what the leader last
// wrote into so's status and what the adapter needs to agree with it: the
// target's replica count, and each trigger's consecutive failures, which
// decide the fallback. A trigger takes the leader's count each time that
// count changes; this replica's own reads count on from there (a success
// resets it), so an outage that the leader and this replica see in turns is
// one run of failures. The mirror calls it on every status change; the
// leader never does. Safe for concurrent use.
func (l *ScaleLoop) FollowStatus(so *v1alpha1.ScaledObject) {
	l.init()
	o := l.object(types.NamespacedName{Namespace: so.Namespace, Name: so.Name})
	if o == nil || o.state.Object.UID != so.UID {
		return
	}
	o.replicas.Store(so.Status.CurrentReplicas)
	for _, ts := range so.Status.Triggers {
		for _, t := range o.triggers {
			if t.name == ts.Name && t.typ == ts.Type {
				t.follow(ts.ConsecutiveFailures)
			}
		}
	}
}

// follow takes the leader's count of consecutive failures when it changed.
func (t *loopTrigger) follow(failures int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.followed && t.leaderFailures == failures {
		return
	}
	t.followed, t.leaderFailures = true, failures
	t.last.Failures = failures
	if failures == 0 && t.last.Err != nil {
		// The leader read the source since this replica's last failure:
		// read it again rather than serve that failure.
		t.last.Time = time.Time{}
	}
}

func (o *loopObject) inFallback(fb *v1alpha1.Fallback) bool {
	for _, t := range o.triggers {
		if t.lastSample().Failures >= fb.FailureThreshold {
			return true
		}
	}
	return false
}

// FallbackValue is the metric value the adapter serves during a fallback:
// the one that makes the HPA compute replicas for a target at current.
func FallbackValue(spec scalers.MetricSpec, replicas, current int32) float64 {
	if spec.Type == v1alpha1.MetricTypeValue && current > 0 {
		// The HPA computes ceil(current × value / target).
		return spec.Target * float64(replicas) / float64(current)
	}
	return spec.Target * float64(replicas)
}

// PauseOf reads the pause annotations. A paused-replicas value that is not a
// whole number ≥ 0 is ignored here; admission rejects it.
func PauseOf(so *v1alpha1.ScaledObject) (paused bool, replicas *int32) {
	if v, ok := so.Annotations[v1alpha1.AnnotationPausedReplicas]; ok {
		var n int64
		if _, err := fmt.Sscan(v, &n); err == nil && n >= 0 && n <= math.MaxInt32 && fmt.Sprint(n) == v {
			r := int32(n)
			return true, &r
		}
	}
	return so.Annotations[v1alpha1.AnnotationPaused] == "true", nil
}

// apiReason is an API error's reason, without a response body that might
// carry details the user should not see in an event.
func apiReason(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return string(st.Status().Reason)
	}
	return sanitize(err.Error(), 512)
}

// MetricSpecs returns the metrics a ScaledObject serves, as the loop holds
// them; nil when the loop does not poll it.
func (l *ScaleLoop) MetricSpecs(key types.NamespacedName) []scalers.MetricSpec {
	l.init()
	o := l.object(key)
	if o == nil {
		return nil
	}
	// The state the object was handed over with is never changed after.
	return o.state.metricSpecs()
}
