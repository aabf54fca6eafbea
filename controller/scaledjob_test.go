// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
)

// The control plane runs no kubelet and no job controller: these tests play
// both, setting the Jobs' status themselves.

func (e *env) scaledJob(name string, triggers ...v1alpha1.Trigger) *v1alpha1.ScaledJob {
	return &v1alpha1.ScaledJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: v1alpha1.ScaledJobSpec{
			PollingInterval: ptr.To[int32](1),
			JobTargetRef: batchv1.JobSpec{
				BackoffLimit: ptr.To[int32](0),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
					Spec: corev1.PodSpec{
						RestartPolicy: corev1.RestartPolicyNever,
						Containers:    []corev1.Container{{Name: "worker", Image: "example.invalid/worker:1"}},
					},
				},
			},
			Triggers: triggers,
		},
	}
}

func (e *env) getJob(name string) *v1alpha1.ScaledJob {
	e.t.Helper()
	var sj v1alpha1.ScaledJob
	if err := e.c.Get(e.t.Context(), client.ObjectKey{Namespace: e.ns, Name: name}, &sj); err != nil {
		e.t.Fatal(err)
	}
	return &sj
}

// jobsOf lists the Jobs labelled for a ScaledJob, finished or not.
func (e *env) jobsOf(name string) []batchv1.Job {
	e.t.Helper()
	var list batchv1.JobList
	if err := e.c.List(e.t.Context(), &list, client.InNamespace(e.ns), client.MatchingLabels{v1alpha1.LabelScaledJob: name}); err != nil {
		e.t.Fatal(err)
	}
	slices.SortFunc(list.Items, func(a, b batchv1.Job) int { return strings.Compare(a.Name, b.Name) })
	return list.Items
}

func (e *env) running(name string) []batchv1.Job {
	var out []batchv1.Job
	for _, j := range e.jobsOf(name) {
		if finished, _ := controller.JobFinished(&j); !finished && j.DeletionTimestamp.IsZero() {
			out = append(out, j)
		}
	}
	return out
}

func (e *env) waitJobCondition(name, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.ScaledJob {
	e.t.Helper()
	var sj *v1alpha1.ScaledJob
	e.waitFor(30*time.Second, fmt.Sprintf("ScaledJob %s %s=%s (%s)", name, typ, status, reason), func() (bool, error) {
		sj = e.getJob(name)
		c := meta.FindStatusCondition(sj.Status.Conditions, typ)
		return c != nil && c.Status == status && (reason == "" || c.Reason == reason) && c.ObservedGeneration == sj.Generation, nil
	})
	return sj
}

// waitSettled waits for a poll that found want Jobs running and created
// none, then checks that exactly want run: the Jobs of earlier polls were
// counted, none made twice.
func (e *env) waitSettled(name string, want int) {
	e.t.Helper()
	e.waitFor(60*time.Second, fmt.Sprintf("ScaledJob %s to settle at %d running Jobs", name, want), func() (bool, error) {
		sj := e.getJob(name)
		return int(sj.Status.RunningJobs) == want && sj.Status.LastCreatedJobs == 0 && len(e.running(name)) == want, nil
	})
	if got := len(e.running(name)); got != want {
		e.t.Fatalf("%d Jobs running, want %d", got, want)
	}
}

func (e *env) jobEvents(name string) []string {
	e.t.Helper()
	return e.eventsOf("ScaledJob", name)
}

func (e *env) waitJobEvent(name, reason string) string {
	e.t.Helper()
	return e.waitEventOf("ScaledJob", name, "ScaledJob "+name, reason)
}

// finish plays the job controller: the Job completes (or fails) at at.
func (e *env) finish(j batchv1.Job, failed bool, at time.Time) {
	e.t.Helper()
	start := metav1.NewTime(at.Add(-time.Minute))
	now := metav1.NewTime(at)
	j.Status.StartTime = &start
	if failed {
		j.Status.Failed = 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
		}
	} else {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &now
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now},
		}
	}
	if err := e.c.Status().Update(e.t.Context(), &j); err != nil {
		e.t.Fatalf("finish Job %s: %v", j.Name, err)
	}
}

// markReady plays the kubelet: the Job's pod is ready, so the Job is no
// longer pending.
func (e *env) markReady(j batchv1.Job) {
	e.t.Helper()
	start := metav1.Now()
	j.Status.StartTime = &start
	j.Status.Active = 1
	j.Status.Ready = ptr.To[int32](1)
	if err := e.c.Status().Update(e.t.Context(), &j); err != nil {
		e.t.Fatalf("mark Job %s ready: %v", j.Name, err)
	}
}

// N messages at 2 a Job make ceil(N/2) Jobs, each named after, labelled for
// and owned by the ScaledJob; later polls count them and make no more;
// finished Jobs free their slots.
func TestScaledJobCreatesOneJobPerBatchOfWork(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	mq.publish(q, 9)
	e.create(e.scaledJob("batch", rabbitTrigger(rabbitURL, q, "2")))

	e.waitJobCondition("batch", v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady)
	e.waitSettled("batch", 5)
	sj := e.getJob("batch")
	for _, j := range e.jobsOf("batch") {
		owner := metav1.GetControllerOf(&j)
		if !strings.HasPrefix(j.Name, "batch-") || owner == nil || owner.UID != sj.UID || owner.Kind != "ScaledJob" ||
			j.Labels[v1alpha1.LabelScaledJob] != "batch" || j.Spec.Template.Labels[v1alpha1.LabelScaledJob] != "batch" || j.Spec.Template.Labels["app"] != "batch" {
			t.Errorf("Job %s: owner %+v, labels %v, pod labels %v", j.Name, owner, j.Labels, j.Spec.Template.Labels)
		}
	}
	if ev := e.waitJobEvent("batch", controller.ReasonJobsCreated); !strings.Contains(ev, "created 5 Job(s)") {
		t.Errorf("event %q does not give the count", ev)
	}
	active := meta.FindStatusCondition(sj.Status.Conditions, v1alpha1.ConditionActive)
	if active == nil || active.Status != metav1.ConditionTrue || len(sj.Status.Triggers) != 1 || sj.Status.Triggers[0].Value != "9" || sj.Status.LastActiveTime == nil {
		t.Errorf("status %+v", sj.Status)
	}

	// Two finish: the work still queued asks for two more.
	jobs := e.running("batch")
	e.finish(jobs[0], false, time.Now())
	e.finish(jobs[1], true, time.Now())
	e.waitFor(30*time.Second, "two more Jobs", func() (bool, error) { return len(e.jobsOf("batch")) == 7, nil })
	e.waitSettled("batch", 5)
}

// maxReplicaCount caps the Jobs running at once, over several polls.
func TestScaledJobHonoursMaxReplicaCount(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	mq.publish(q, 50)
	sj := e.scaledJob("capped", rabbitTrigger(rabbitURL, q, "1"))
	sj.Spec.MaxReplicaCount = ptr.To[int32](3)
	e.create(sj)
	e.waitSettled("capped", 3)
	got := e.waitJobCondition("capped", v1alpha1.ConditionActive, metav1.ConditionTrue, controller.ReasonTriggerActive)
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionActive); !strings.Contains(c.Message, "maxReplicaCount 3") {
		t.Errorf("Active message %q does not say max is reached", c.Message)
	}
}

// Each strategy, against a queue nobody consumes, settles at the count its
// formula gives (docs/scaledjob.md).
func TestScaledJobStrategies(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	e.startOperator("", 0)
	tests := []struct {
		sentence string
		strategy v1alpha1.ScalingStrategy
		messages int
		max      int32
		want     int
	}{
		{"default: ceil(queue / target) − running", v1alpha1.ScalingStrategy{Strategy: v1alpha1.JobScalingDefault}, 4, 10, 4},
		{"accurate: pending Jobs cover the queue", v1alpha1.ScalingStrategy{Strategy: v1alpha1.JobScalingAccurate}, 3, 10, 3},
		{"eager: fills up to max while there is work", v1alpha1.ScalingStrategy{Strategy: v1alpha1.JobScalingEager}, 3, 5, 5},
		{"custom: deduction and half the running Jobs", v1alpha1.ScalingStrategy{Strategy: v1alpha1.JobScalingCustom,
			CustomScalingQueueLengthDeduction: ptr.To[int32](2), CustomScalingRunningJobPercentage: "0.5"}, 10, 100, 16},
	}
	for i, tc := range tests {
		q := mq.queue()
		mq.publish(q, tc.messages)
		sj := e.scaledJob(fmt.Sprintf("s%d", i), rabbitTrigger(rabbitURL, q, "1"))
		sj.Spec.ScalingStrategy = tc.strategy.DeepCopy()
		sj.Spec.MaxReplicaCount = ptr.To(tc.max)
		e.create(sj)
	}
	for i, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			e := &env{t: t, c: e.c, ns: e.ns}
			e.waitSettled(fmt.Sprintf("s%d", i), tc.want)
		})
	}

	// accurate: once its pods run, a Job is no longer pending, and the queue
	// (which no longer holds the work they took) asks for as many again.
	for _, j := range e.running("s1") {
		e.markReady(j)
	}
	e.waitSettled("s1", 6)
}

// Finished Jobs past the history limits are deleted, oldest first.
func TestScaledJobPrunesFinishedJobsToTheHistoryLimits(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	mq.publish(q, 6)
	sj := e.scaledJob("history", rabbitTrigger(rabbitURL, q, "1"))
	sj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1)
	sj.Spec.FailedJobsHistoryLimit = ptr.To[int32](2)
	e.create(sj)
	e.waitSettled("history", 6)
	mq.purge(q)
	jobs := e.running("history")
	base := time.Now().Add(-time.Hour)
	for i, j := range jobs {
		e.finish(j, i%2 == 1, base.Add(time.Duration(i)*time.Minute))
	}
	// Succeeded: 0, 2, 4 → only 4 is kept. Failed: 1, 3, 5 → 3 and 5 are kept.
	want := []string{jobs[3].Name, jobs[4].Name, jobs[5].Name}
	e.waitFor(30*time.Second, fmt.Sprintf("only %v left", want), func() (bool, error) {
		var names []string
		for _, j := range e.jobsOf("history") {
			names = append(names, j.Name)
		}
		return slices.Equal(names, want), nil
	})
}

// An unreachable broker is an unknown value, never a zero and never work:
// no Job, Active=False with the reason, a warning event, and no credential
// in any of them.
func TestScaledJobWithAnUnreachableBrokerCreatesNoJob(t *testing.T) {
	e := newEnv(t, false)
	e.startOperator("", 0)
	e.create(e.scaledJob("down", rabbitTrigger("amqp://worker:s3cret-pw@127.0.0.1:1/", "q", "1")))
	sj := e.waitJobCondition("down", v1alpha1.ConditionActive, metav1.ConditionUnknown, controller.ReasonTriggerError)
	c := meta.FindStatusCondition(sj.Status.Conditions, v1alpha1.ConditionActive)
	ev := e.waitJobEvent("down", controller.ReasonTriggerError)
	if !strings.Contains(c.Message, `trigger "queue" could not be read`) || !strings.Contains(ev, `trigger "queue"`) {
		t.Errorf("condition %q / event %q do not name the trigger", c.Message, ev)
	}
	for _, text := range append([]string{c.Message, ev, sj.Status.Triggers[0].LastError}, e.jobEvents("down")...) {
		if strings.Contains(text, "s3cret-pw") {
			t.Errorf("a credential in %q", text)
		}
	}
	if n := len(e.jobsOf("down")); n != 0 {
		t.Errorf("%d Jobs created on an unknown value", n)
	}
}

// The pause annotation stops Job creation; removing it starts it again.
func TestPausedScaledJobCreatesNoJob(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	mq.publish(q, 3)
	sj := e.scaledJob("paused", rabbitTrigger(rabbitURL, q, "1"))
	sj.Annotations = map[string]string{v1alpha1.AnnotationPaused: "true"}
	e.create(sj)
	e.waitJobCondition("paused", v1alpha1.ConditionPaused, metav1.ConditionTrue, controller.ReasonPaused)
	if n := len(e.jobsOf("paused")); n != 0 {
		t.Fatalf("%d Jobs created while paused", n)
	}
	got := e.getJob("paused")
	e.update(got, func() { delete(got.Annotations, v1alpha1.AnnotationPaused) })
	e.waitJobCondition("paused", v1alpha1.ConditionPaused, metav1.ConditionFalse, controller.ReasonNotPaused)
	e.waitSettled("paused", 3)
}

// newRolloutPair starts the operator with two ScaledJobs on RabbitMQ queues
// of two messages each, "dflt" with the default rollout and "gradual", and
// waits until each runs two Jobs.
func newRolloutPair(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, false)
	mq := newRabbit(t)
	e.startOperator("", 0)
	q1, q2 := mq.queue(), mq.queue()
	mq.publish(q1, 2)
	mq.publish(q2, 2)
	e.create(e.scaledJob("dflt", rabbitTrigger(rabbitURL, q1, "1")))
	g := e.scaledJob("gradual", rabbitTrigger(rabbitURL, q2, "1"))
	g.Spec.Rollout = &v1alpha1.Rollout{Strategy: v1alpha1.RolloutGradual}
	e.create(g)
	e.waitSettled("dflt", 2)
	e.waitSettled("gradual", 2)
	return e
}

// Deleting a ScaledJob with the default rollout deletes its running Jobs;
// with gradual, they are released to finish.
func TestDeletingAScaledJobDeletesOrReleasesItsRunningJobs(t *testing.T) {
	e := newRolloutPair(t)
	done := e.running("dflt")[0]
	e.finish(done, false, time.Now())

	for _, name := range []string{"dflt", "gradual"} {
		if err := e.c.Delete(t.Context(), e.getJob(name)); err != nil {
			t.Fatal(err)
		}
	}
	e.waitFor(30*time.Second, "both ScaledJobs gone", func() (bool, error) {
		var list v1alpha1.ScaledJobList
		err := e.c.List(t.Context(), &list, client.InNamespace(e.ns))
		return err == nil && len(list.Items) == 0, err
	})
	if left := e.jobsOf("dflt"); len(left) != 1 || left[0].Name != done.Name {
		t.Errorf("default rollout left %d Jobs, want only the finished %s", len(left), done.Name)
	}
	left := e.jobsOf("gradual")
	if len(left) != 2 {
		t.Fatalf("gradual rollout left %d Jobs, want 2", len(left))
	}
	for _, j := range left {
		if metav1.GetControllerOf(&j) != nil {
			t.Errorf("Job %s still owned: garbage collection would delete it", j.Name)
		}
	}
}

// A malformed ScaledJob is rejected at apply, naming the field: by the
// scalers' own parser in the webhook, and by the CRD's schema and CEL rules.
func TestAdmissionRejectsBadScaledJobsNamingTheField(t *testing.T) {
	e := newEnv(t, true)
	tests := []struct {
		sentence string
		mutate   func(*v1alpha1.ScaledJob)
		want     []string
	}{
		{"a target value that is not a number", func(sj *v1alpha1.ScaledJob) { sj.Spec.Triggers[0].Metadata["value"] = "ten" },
			[]string{"spec.triggers[0].metadata[value]", `key "value" expected a number`}},
		{"a misspelt metadata key", func(sj *v1alpha1.ScaledJob) { sj.Spec.Triggers[0].Metadata["queuename"] = "x" },
			[]string{"spec.triggers[0].metadata[queuename]"}},
		{"an unknown trigger type", func(sj *v1alpha1.ScaledJob) { sj.Spec.Triggers[0].Type = "rabbit" },
			[]string{"spec.triggers[0].type"}},
		{"minReplicaCount above maxReplicaCount", func(sj *v1alpha1.ScaledJob) {
			sj.Spec.MinReplicaCount, sj.Spec.MaxReplicaCount = ptr.To[int32](5), ptr.To[int32](2)
		}, []string{"spec.minReplicaCount"}},
		{"an unknown strategy", func(sj *v1alpha1.ScaledJob) {
			sj.Spec.ScalingStrategy = &v1alpha1.ScalingStrategy{Strategy: "greedy"}
		}, []string{"spec.scalingStrategy.strategy"}},
		{"custom parameters without strategy custom", func(sj *v1alpha1.ScaledJob) {
			sj.Spec.ScalingStrategy = &v1alpha1.ScalingStrategy{Strategy: v1alpha1.JobScalingEager, CustomScalingQueueLengthDeduction: ptr.To[int32](1)}
		}, []string{"spec.scalingStrategy.strategy", "need strategy custom"}},
		{"a running-job percentage above 1", func(sj *v1alpha1.ScaledJob) {
			sj.Spec.ScalingStrategy = &v1alpha1.ScalingStrategy{Strategy: v1alpha1.JobScalingCustom, CustomScalingRunningJobPercentage: "1.5"}
		}, []string{"spec.scalingStrategy.customScalingRunningJobPercentage"}},
		{"an unknown calculation", func(sj *v1alpha1.ScaledJob) {
			sj.Spec.ScalingStrategy = &v1alpha1.ScalingStrategy{MultipleScalersCalculation: "median"}
		}, []string{"spec.scalingStrategy.multipleScalersCalculation"}},
		{"a name too long for a label value", func(sj *v1alpha1.ScaledJob) { sj.Name = strings.Repeat("n", 64) },
			[]string{"metadata.name", "at most 63"}},
		{"a Job template without containers", func(sj *v1alpha1.ScaledJob) { sj.Spec.JobTargetRef.Template.Spec.Containers = nil },
			[]string{"spec.jobTargetRef.template.spec.containers"}},
		{"a pause annotation that is not true or false", func(sj *v1alpha1.ScaledJob) {
			sj.Annotations = map[string]string{v1alpha1.AnnotationPaused: "yes"}
		}, []string{"metadata.annotations[ebb.dev/paused]"}},
	}
	for i, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			sj := e.scaledJob(fmt.Sprintf("bad-%d", i), rabbitTrigger(rabbitURL, "q", "1"))
			tc.mutate(sj)
			err := e.c.Create(t.Context(), sj)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	e.create(e.scaledJob("good", rabbitTrigger(rabbitURL, "q", "1")))
}

// A change to a ScaledJob's spec replaces its running Jobs with the default
// rollout, and leaves them to finish with gradual.
func TestChangingAScaledJobRollsOutItsJobs(t *testing.T) {
	e := newRolloutPair(t)
	before := map[string][]batchv1.Job{"dflt": e.running("dflt"), "gradual": e.running("gradual")}

	for _, name := range []string{"dflt", "gradual"} {
		sj := e.getJob(name)
		e.update(sj, func() { sj.Spec.JobTargetRef.ActiveDeadlineSeconds = ptr.To[int64](600) })
		e.waitJobCondition(name, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady)
	}
	e.waitFor(30*time.Second, "the default rollout to replace its Jobs", func() (bool, error) {
		jobs := e.running("dflt")
		if len(jobs) != 2 {
			return false, nil
		}
		for _, j := range jobs {
			if j.Annotations[controller.AnnotationJobGeneration] != "2" || j.Spec.ActiveDeadlineSeconds == nil {
				return false, nil
			}
		}
		return true, nil
	})
	e.waitSettled("dflt", 2)
	e.waitJobEvent("dflt", "JobDeleted")
	e.waitSettled("gradual", 2)
	after := e.running("gradual")
	for i := range after {
		if after[i].Name != before["gradual"][i].Name {
			t.Errorf("gradual rollout replaced Job %s with %s", before["gradual"][i].Name, after[i].Name)
		}
	}
}

// With two operator replicas, only the leader creates Jobs: the count is
// not doubled; the follower creates them once it leads.
func TestOnlyTheLeaderCreatesJobs(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	q := mq.queue()
	a, _ := e.startOperatorWith("", 0, true)
	e.waitFor(30*time.Second, "the first operator to lead", func() (bool, error) { return a.leader(), nil })
	b, _ := e.startOperatorWith("", 0, true)
	mq.publish(q, 3)
	e.create(e.scaledJob("led", rabbitTrigger(rabbitURL, q, "1")))
	e.waitSettled("led", 3)
	if b.leader() {
		t.Fatal("both operators lead")
	}
	a.stop(t)
	e.waitFor(60*time.Second, "the follower to take over", func() (bool, error) { return b.leader(), nil })
	mq.publish(q, 2)
	e.waitSettled("led", 5)
}

// A trigger whose TriggerAuthentication does not exist cannot be built: the
// ScaledJob is not Ready, says why, and creates no Job.
func TestScaledJobWithAMissingTriggerAuthenticationIsNotReady(t *testing.T) {
	e := newEnv(t, false)
	e.startOperator("", 0)
	trig := rabbitTrigger(rabbitURL, "q", "1")
	trig.AuthenticationRef = &v1alpha1.AuthenticationRef{Name: "nowhere"}
	e.create(e.scaledJob("noauth", trig))
	sj := e.waitJobCondition("noauth", v1alpha1.ConditionReady, metav1.ConditionFalse, controller.ReasonScalerError)
	c := meta.FindStatusCondition(sj.Status.Conditions, v1alpha1.ConditionReady)
	if !strings.Contains(c.Message, "TriggerAuthentication") || !strings.Contains(c.Message, "nowhere") {
		t.Errorf("Ready message %q does not name the missing TriggerAuthentication", c.Message)
	}
	e.waitJobEvent("noauth", controller.ReasonScalerError)
	if n := len(e.jobsOf("noauth")); n != 0 {
		t.Errorf("%d Jobs created", n)
	}
}

// The chart's default (scaledJobs.enabled=false): the operator runs under
// RBAC without the ScaledJob permissions, ScaledObjects work, and the
// webhook refuses a new ScaledJob saying how to enable them.
func TestScaledJobsOffTheOperatorNeedsNoneOfTheirPermissions(t *testing.T) {
	e := newEnv(t, false)
	e.noScaledJobs = true
	e.installWebhook()
	mq := newRabbit(t)
	q := mq.queue()

	err := e.c.Create(t.Context(), e.scaledJob("batch", rabbitTrigger(rabbitURL, q, "2")))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "scaledJobs.enabled=true") {
		t.Fatalf("creating a ScaledJob with ScaledJobs off: %v, want Forbidden naming scaledJobs.enabled", err)
	}
	e.deployment("worker", 0)
	e.create(e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, q, "5")))
	e.waitCondition("orders", v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady, 30*time.Second)
}
