// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// AnnotationJobGeneration on a Job Ebb created holds the generation of the
// ScaledJob it was made from: the default rollout deletes running Jobs of an
// older generation.
const AnnotationJobGeneration = "ebb.dev/scaledjob-generation"

// JobState is what the reconciler hands the JobLoop with a ScaledJob: a
// copy of it, its built triggers and its Ready condition.
type JobState struct {
	Object   *v1alpha1.ScaledJob
	Triggers []LoopTrigger
	Ready    metav1.Condition
}

// JobLoop polls every ScaledJob's triggers on the same kind of scheduler as
// the ScaleLoop, with the same coalesced reads, and creates Jobs as the
// ScaledJob's strategy decides (DecideJobs); it deletes finished Jobs past
// the history limits and writes status. It is a controller-runtime Runnable
// that runs on the leader only: only the leader creates Jobs.
type JobLoop struct {
	// Client creates and deletes Jobs and writes status.
	Client client.Client
	// Reader lists Jobs and pods straight from the API server, so a poll
	// always counts the Jobs the previous poll created.
	Reader  client.Reader
	Events  record.EventRecorder
	Clock   clock.WithTicker
	Workers int
	Log     logr.Logger
	// Metrics, when set, records the triggers' reads, the Jobs running and
	// pending, and the Jobs created and deleted (metrics.go). When nil, the
	// loop takes the Metrics of scale (set by Setup) when it starts: the
	// operator sets those after Setup.
	Metrics *Metrics
	scale   *ScaleLoop
	// Recheck is as ScaleLoop.Recheck, for ScaledJobs.
	Recheck func(ctx context.Context, key types.NamespacedName) bool

	once    sync.Once
	sched   *Scheduler[types.NamespacedName]
	objects objectSet[*jobObject]
}

type jobObject struct {
	key types.NamespacedName

	mu        sync.Mutex
	state     JobState
	triggers  []*loopTrigger
	lastAct   *time.Time
	written   *v1alpha1.ScaledJobStatus
	writtenAt time.Time
	closed    bool
}

func (l *JobLoop) init() {
	l.once.Do(func() {
		if l.Clock == nil {
			l.Clock = clock.RealClock{}
		}
		if l.Workers <= 0 {
			l.Workers = 8
		}
		if l.Metrics == nil && l.scale != nil {
			l.Metrics = l.scale.Metrics
		}
		l.sched = NewScheduler(l.Clock, l.Workers, l.poll).GroupBy(namespaceOf)
	})
}

// Start runs the loop until ctx ends.
func (l *JobLoop) Start(ctx context.Context) error {
	l.init()
	err := l.sched.Start(ctx)
	l.objects.closeAll()
	return err
}

// NeedLeaderElection: only the leader creates Jobs.
func (l *JobLoop) NeedLeaderElection() bool { return true }

// Upsert makes the loop poll a ScaledJob with the given triggers, at once.
// The loop owns the scalers from here on and closes those it replaces.
func (l *JobLoop) Upsert(st JobState) {
	l.init()
	key := types.NamespacedName{Namespace: st.Object.Namespace, Name: st.Object.Name}
	o := &jobObject{key: key, state: st}
	l.Metrics.forgetJob(key, st.Triggers)
	for _, t := range st.Triggers {
		spec := t.Scaler.Metric()
		o.triggers = append(o.triggers, &loopTrigger{name: t.Name, typ: t.Type, spec: spec, scaler: t.Scaler, obs: l.Metrics.jobTrigger(key, t.Name, t.Type, spec),
			panics: &panicReport{object: st.Object, events: l.Events, log: l.Log.WithValues("scaledJob", key), metrics: l.Metrics, clock: l.Clock, trigger: t.Name, typ: t.Type}})
	}
	if la := st.Object.Status.LastActiveTime; la != nil {
		t := la.Time
		o.lastAct = &t
	}
	if old, ok := l.objects.put(key, o); ok {
		old.mu.Lock()
		o.lastAct = carryReadings(o.triggers, old.triggers, o.lastAct, old.lastAct)
		o.written, o.writtenAt = old.written, old.writtenAt
		old.mu.Unlock()
		old.close()
	}
	l.sched.Schedule(key, l.Clock.Now())
}

// Remove stops polling a ScaledJob and closes its scalers.
func (l *JobLoop) Remove(key types.NamespacedName) {
	l.init()
	o, ok := l.objects.remove(key)
	l.sched.Remove(key)
	if ok {
		o.close()
	}
	// After close: a poll under way has ended and records nothing more.
	l.Metrics.forgetJob(key, nil)
}

// SetAuthErrors is as ScaleLoop.SetAuthErrors, for a ScaledJob.
func (l *JobLoop) SetAuthErrors(key types.NamespacedName, errs []error) {
	l.init()
	if o := l.object(key); o != nil {
		setAuthErrors(o.triggers, errs)
	}
}

// Has says whether the loop polls key.
func (l *JobLoop) Has(key types.NamespacedName) bool {
	l.init()
	return l.objects.has(key)
}

func (o *jobObject) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	for _, t := range o.triggers {
		_ = t.scaler.Close()
	}
}

func (l *JobLoop) object(key types.NamespacedName) *jobObject {
	return l.objects.get(key)
}

// JobCounts is how a ScaledJob's Jobs stand.
type JobCounts struct {
	// Running are the Jobs not finished; Pending those among them whose pods
	// do not run yet.
	Running, Pending []*batchv1.Job
	// Succeeded and Failed are the finished Jobs, oldest first.
	Succeeded, Failed []*batchv1.Job
	// Stale are running Jobs of an older generation of the ScaledJob.
	Stale []*batchv1.Job
}

// JobFinished says whether a Job has finished, and whether it failed.
func JobFinished(j *batchv1.Job) (finished, failed bool) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, false
		case batchv1.JobFailed:
			return true, true
		}
	}
	return false, false
}

// countJobs sorts the ScaledJob's Jobs. A Job counts as pending while none
// of its pods is ready or, with pendingPodConditions, while none of its pods
// has every listed condition true.
func countJobs(sj *v1alpha1.ScaledJob, jobs []batchv1.Job, pods []corev1.Pod) JobCounts {
	var c JobCounts
	gen := strconv.FormatInt(sj.Generation, 10)
	var conds []string
	if s := sj.Spec.ScalingStrategy; s != nil {
		conds = s.PendingPodConditions
	}
	for i := range jobs {
		j := &jobs[i]
		if owner := metav1.GetControllerOfNoCopy(j); owner == nil || owner.UID != sj.UID {
			continue
		}
		if finished, failed := JobFinished(j); finished {
			if failed {
				c.Failed = append(c.Failed, j)
			} else {
				c.Succeeded = append(c.Succeeded, j)
			}
			continue
		}
		if !j.DeletionTimestamp.IsZero() {
			continue
		}
		if sj.Spec.RolloutStrategy() == v1alpha1.RolloutDefault && j.Annotations[AnnotationJobGeneration] != gen {
			c.Stale = append(c.Stale, j)
			continue
		}
		c.Running = append(c.Running, j)
		if jobPending(j, pods, conds) {
			c.Pending = append(c.Pending, j)
		}
	}
	oldest := func(a, b *batchv1.Job) int {
		return finishedAt(a).Compare(finishedAt(b))
	}
	slices.SortStableFunc(c.Succeeded, oldest)
	slices.SortStableFunc(c.Failed, oldest)
	return c
}

func finishedAt(j *batchv1.Job) time.Time {
	if j.Status.CompletionTime != nil {
		return j.Status.CompletionTime.Time
	}
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return j.CreationTimestamp.Time
}

func jobPending(j *batchv1.Job, pods []corev1.Pod, conds []string) bool {
	if len(conds) == 0 {
		return j.Status.Ready == nil || *j.Status.Ready == 0
	}
	for _, p := range pods {
		if owner := metav1.GetControllerOfNoCopy(&p); owner == nil || owner.UID != j.UID {
			continue
		}
		all := true
		for _, want := range conds {
			ok := false
			for _, pc := range p.Status.Conditions {
				if string(pc.Type) == want && pc.Status == corev1.ConditionTrue {
					ok = true
				}
			}
			all = all && ok
		}
		if all {
			return false
		}
	}
	return true
}

// poll is the scheduler's job for one ScaledJob.
func (l *JobLoop) poll(ctx context.Context, key types.NamespacedName) (time.Duration, bool) {
	o := l.object(key)
	if o == nil {
		return 0, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, false
	}
	sj := o.state.Object
	spec := &sj.Spec
	interval := spec.PollingIntervalDuration()
	log := l.Log.WithValues("scaledJob", key)

	counts, err := l.listJobs(ctx, sj)
	if err != nil {
		log.Error(err, "Listing the ScaledJob's Jobs")
		return interval, true
	}
	for _, j := range counts.Stale {
		if err := l.deleteJob(ctx, j); err != nil {
			log.Error(err, "Deleting a Job of an older ScaledJob generation", "job", j.Name)
		} else {
			l.Metrics.jobDeleted(key, JobDeletedRollout)
			l.Events.Eventf(sj, corev1.EventTypeNormal, "JobDeleted", "deleted running Job %s of generation %s (rollout strategy default)", j.Name, j.Annotations[AnnotationJobGeneration])
		}
	}
	l.prune(ctx, key, counts.Succeeded, spec.SuccessfulHistory(), log)
	l.prune(ctx, key, counts.Failed, spec.FailedHistory(), log)

	paused := sj.Annotations[v1alpha1.AnnotationPaused] == "true"
	if !paused && l.Recheck != nil && failing(o.triggers) && l.Recheck(ctx, key) {
		// New credentials: the rebuilt ScaledJob is polled at once.
		return interval, true
	}
	if !paused {
		readTriggers(ctx, l.Clock, o.triggers, false, interval, nil)
		if ctx.Err() != nil {
			return 0, false
		}
	}

	in := JobInputs{
		Strategy: spec.Strategy(), Calculation: spec.Calculation(),
		Running: int32(len(counts.Running)), Pending: int32(len(counts.Pending)),
		Min: spec.MinReplicas(), Max: spec.MaxReplicas(), Paused: paused,
	}
	if s := spec.ScalingStrategy; s != nil {
		if s.CustomScalingQueueLengthDeduction != nil {
			in.QueueDeduction = *s.CustomScalingQueueLengthDeduction
		}
		if s.CustomScalingRunningJobPercentage != "" {
			in.RunningPercentage, _ = strconv.ParseFloat(s.CustomScalingRunningJobPercentage, 64)
		}
	}
	for _, t := range o.triggers {
		s := t.lastSample()
		in.Triggers = append(in.Triggers, JobTrigger{Name: t.name, Queue: s.Value, Target: t.spec.Target,
			Active: s.Err == nil && s.Active, Known: s.Err == nil && !s.Time.IsZero()})
	}
	d := DecideJobs(in)
	now := l.Clock.Now()
	if d.Active {
		o.lastAct = &now
	}
	if !paused && !d.Known {
		l.Events.Event(sj, corev1.EventTypeWarning, ReasonTriggerError, o.triggerErrors())
	}

	created := int32(0)
	for range d.Create {
		j, err := l.createJob(ctx, sj)
		if err != nil {
			log.Error(err, "Creating a Job")
			l.Events.Eventf(sj, corev1.EventTypeWarning, "JobCreateFailed", "creating a Job failed: %s", apiReason(err))
			break
		}
		created++
		log.V(1).Info("Created a Job", "job", j.Name)
	}
	if created > 0 {
		log.Info("Created Jobs", "count", created, "running", in.Running, "reason", d.Reason)
		l.Events.Eventf(sj, corev1.EventTypeNormal, ReasonJobsCreated, "created %d Job(s): %s", created, d.Message)
	}
	l.Metrics.jobs(key, in.Running+created, in.Pending+created, created)
	l.writeStatus(ctx, o, d, in, created, now)
	return interval, true
}

// triggerErrors names the triggers that failed and their (credential-free)
// errors.
func (o *jobObject) triggerErrors() string {
	var msg string
	for _, t := range o.triggers {
		s := t.lastSample()
		if s.Err == nil && !s.Time.IsZero() {
			continue
		}
		if msg != "" {
			msg += "; "
		}
		if s.Err != nil {
			msg += fmt.Sprintf("trigger %q could not be read: %s", t.name, sanitize(s.Err.Error(), 256))
		} else {
			msg += fmt.Sprintf("trigger %q not read yet", t.name)
		}
	}
	return msg + ": no Job is created for work"
}

func (l *JobLoop) listJobs(ctx context.Context, sj *v1alpha1.ScaledJob) (JobCounts, error) {
	sel := client.MatchingLabels{v1alpha1.LabelScaledJob: sj.Name}
	var jobs batchv1.JobList
	if err := l.Reader.List(ctx, &jobs, client.InNamespace(sj.Namespace), sel); err != nil {
		return JobCounts{}, err
	}
	var pods []corev1.Pod
	if s := sj.Spec.ScalingStrategy; s != nil && len(s.PendingPodConditions) > 0 {
		var list corev1.PodList
		if err := l.Reader.List(ctx, &list, client.InNamespace(sj.Namespace), sel); err != nil {
			return JobCounts{}, err
		}
		pods = list.Items
	}
	return countJobs(sj, jobs.Items, pods), nil
}

// prune deletes the oldest finished Jobs past limit.
func (l *JobLoop) prune(ctx context.Context, key types.NamespacedName, finished []*batchv1.Job, limit int32, log logr.Logger) {
	for i := 0; i < len(finished)-int(limit); i++ {
		if err := l.deleteJob(ctx, finished[i]); err != nil {
			log.Error(err, "Deleting a finished Job past the history limit", "job", finished[i].Name)
		} else {
			l.Metrics.jobDeleted(key, JobDeletedHistory)
		}
	}
}

func (l *JobLoop) deleteJob(ctx context.Context, j *batchv1.Job) error {
	err := l.Client.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &j.UID})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// NewJob is the Job Ebb creates for a ScaledJob: its jobTargetRef, named
// "<scaledjob>-<random>", labelled with the ScaledJob's name (its pods too)
// and owned by it.
func NewJob(sj *v1alpha1.ScaledJob) *batchv1.Job {
	spec := sj.Spec.JobTargetRef.DeepCopy()
	if spec.Template.Labels == nil {
		spec.Template.Labels = map[string]string{}
	}
	spec.Template.Labels[v1alpha1.LabelScaledJob] = sj.Name
	labels := map[string]string{}
	for k, v := range sj.Spec.JobTargetRef.Template.Labels {
		labels[k] = v
	}
	labels[v1alpha1.LabelScaledJob] = sj.Name
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    sj.Name + "-",
			Namespace:       sj.Namespace,
			Labels:          labels,
			Annotations:     map[string]string{AnnotationJobGeneration: strconv.FormatInt(sj.Generation, 10)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(sj, v1alpha1.GroupVersion.WithKind("ScaledJob"))},
		},
		Spec: *spec,
	}
}

func (l *JobLoop) createJob(ctx context.Context, sj *v1alpha1.ScaledJob) (*batchv1.Job, error) {
	j := NewJob(sj)
	if err := l.Client.Create(ctx, j, client.FieldOwner(FieldOwner)); err != nil {
		return nil, err
	}
	return j, nil
}

// jobStatus builds the ScaledJob's status from the last poll.
func (o *jobObject) jobStatus(d JobDecision, in JobInputs, created int32, now time.Time) *v1alpha1.ScaledJobStatus {
	sj := o.state.Object
	gen := sj.Generation
	st := &v1alpha1.ScaledJobStatus{
		ObservedGeneration: gen,
		RunningJobs:        in.Running + created,
		PendingJobs:        in.Pending + created,
		LastCreatedJobs:    created,
	}
	if o.lastAct != nil {
		st.LastActiveTime = &metav1.Time{Time: o.lastAct.Truncate(time.Second)}
	}
	for _, t := range o.triggers {
		s := t.lastSample()
		ts := v1alpha1.TriggerStatus{Name: t.name, Type: t.typ, Target: formatQuantity(t.spec.Target),
			Active: s.Err == nil && s.Active, ConsecutiveFailures: s.Failures}
		if !s.Time.IsZero() {
			ts.Value = formatQuantity(s.Value)
			ts.LastReadTime = &metav1.Time{Time: s.Time.Truncate(time.Second)}
		}
		if s.Err != nil {
			ts.LastError = sanitize(s.Err.Error(), 512)
		}
		st.Triggers = append(st.Triggers, ts)
	}
	prev := sj.Status.Conditions
	if o.written != nil {
		prev = o.written.Conditions
	}
	conds := append([]metav1.Condition(nil), prev...)
	ready := o.state.Ready
	ready.ObservedGeneration = gen
	meta.SetStatusCondition(&conds, ready)

	active := metav1.Condition{Type: v1alpha1.ConditionActive, ObservedGeneration: gen, Status: metav1.ConditionFalse}
	switch {
	case in.Paused:
		active.Reason, active.Message = ReasonPaused, "paused: the triggers are not read"
	case !d.Known:
		// As for a ScaledObject: an unread trigger is neither active nor idle.
		active.Status, active.Reason, active.Message = metav1.ConditionUnknown, ReasonTriggerError, truncate(o.triggerErrors(), 1024)
	case d.Active:
		active.Status, active.Reason, active.Message = metav1.ConditionTrue, ReasonTriggerActive, d.Message
	default:
		active.Reason, active.Message = ReasonNoTriggerActive, "no trigger is active"
	}
	meta.SetStatusCondition(&conds, active)

	pc := metav1.Condition{Type: v1alpha1.ConditionPaused, ObservedGeneration: gen, Status: metav1.ConditionFalse, Reason: ReasonNotPaused, Message: "Job creation is not paused"}
	if in.Paused {
		pc.Status, pc.Reason, pc.Message = metav1.ConditionTrue, ReasonPaused, "paused by annotation: no Job is created"
	}
	meta.SetStatusCondition(&conds, pc)
	for i := range conds {
		if conds[i].LastTransitionTime.IsZero() {
			conds[i].LastTransitionTime = metav1.Time{Time: now.Truncate(time.Second)}
		}
	}
	st.Conditions = conds
	return st
}

// writeStatus writes the status when anything but the triggers' read times
// changed, and otherwise at least every ten polling intervals (5 minutes at
// least).
func (l *JobLoop) writeStatus(ctx context.Context, o *jobObject, d JobDecision, in JobInputs, created int32, now time.Time) {
	st := o.jobStatus(d, in, created, now)
	if o.written != nil && sameJobStatus(st, o.written) {
		if now.Sub(o.writtenAt) < max(10*o.state.Object.Spec.PollingIntervalDuration(), 5*time.Minute) {
			return
		}
	}
	if err := WriteJobStatus(ctx, l.Client, o.state.Object, st); err != nil {
		l.Log.Error(err, "Writing status", "scaledJob", o.key)
		return
	}
	o.written, o.writtenAt = st, now
}

func sameJobStatus(a, b *v1alpha1.ScaledJobStatus) bool {
	strip := func(s *v1alpha1.ScaledJobStatus) *v1alpha1.ScaledJobStatus {
		c := s.DeepCopy()
		for i := range c.Triggers {
			c.Triggers[i].LastReadTime = nil
		}
		return c
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}

// WriteJobStatus writes a ScaledJob's status with server-side apply on the
// status subresource.
func WriteJobStatus(ctx context.Context, c client.Client, sj *v1alpha1.ScaledJob, status *v1alpha1.ScaledJobStatus) error {
	out := &v1alpha1.ScaledJob{ObjectMeta: metav1.ObjectMeta{Namespace: sj.Namespace, Name: sj.Name}}
	return applyStatusPatch(ctx, c, out, "ScaledJob", status)
}
