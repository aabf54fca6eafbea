// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

func testScaledJob(mut ...func(*v1alpha1.ScaledJob)) *v1alpha1.ScaledJob {
	sj := &v1alpha1.ScaledJob{ObjectMeta: metav1.ObjectMeta{Name: "encoder", Namespace: "media", UID: "sj-uid", Generation: 2}}
	for _, m := range mut {
		m(sj)
	}
	return sj
}

type jobOpt func(*batchv1.Job)

func testJob(name string, opts ...jobOpt) batchv1.Job {
	sj := testScaledJob()
	j := *NewJob(sj)
	j.Name, j.UID = name, types.UID(name+"-uid")
	for _, o := range opts {
		o(&j)
	}
	return j
}

func finishedJob(typ batchv1.JobConditionType, at time.Time) jobOpt {
	return func(j *batchv1.Job) {
		j.Status.Conditions = []batchv1.JobCondition{{Type: typ, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
		if typ == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: at}
		}
	}
}

func readyJob(j *batchv1.Job) { r := int32(1); j.Status.Ready = &r }
func generation(g string) jobOpt {
	return func(j *batchv1.Job) { j.Annotations[AnnotationJobGeneration] = g }
}
func ownedBy(uid types.UID) jobOpt {
	return func(j *batchv1.Job) { j.OwnerReferences[0].UID = uid }
}

func names(jobs []*batchv1.Job) []string {
	out := []string{}
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return out
}

func podOf(job string, conds ...corev1.PodConditionType) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job + "-pod", OwnerReferences: []metav1.OwnerReference{{UID: types.UID(job + "-uid"), Controller: ptr(true)}}}}
	for _, c := range conds {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue})
	}
	return p
}

func TestCountJobs(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	jobs := []batchv1.Job{
		testJob("done-late", finishedJob(batchv1.JobComplete, t0.Add(time.Minute))),
		testJob("done-early", finishedJob(batchv1.JobComplete, t0)),
		testJob("failed", finishedJob(batchv1.JobFailed, t0)),
		testJob("running", readyJob),
		testJob("pending"),
		testJob("old-generation", generation("1")),
		testJob("someone-elses", ownedBy("other-uid")),
	}
	c := countJobs(testScaledJob(), jobs, nil)
	check := func(what string, got []*batchv1.Job, want ...string) {
		t.Helper()
		if g := names(got); !slices.Equal(g, append([]string{}, want...)) {
			t.Errorf("%s = %v, want %v", what, g, want)
		}
	}
	check("succeeded, oldest first", c.Succeeded, "done-early", "done-late")
	check("failed", c.Failed, "failed")
	check("running (an older generation is stale with rollout default)", c.Running, "running", "pending")
	check("pending (no ready pod)", c.Pending, "pending")
	check("stale", c.Stale, "old-generation")

	gradual := testScaledJob(func(sj *v1alpha1.ScaledJob) {
		sj.Spec.Rollout = &v1alpha1.Rollout{Strategy: v1alpha1.RolloutGradual}
	})
	c = countJobs(gradual, jobs, nil)
	check("with rollout gradual, an older generation still runs", c.Running, "running", "pending", "old-generation")
	check("nothing is stale with rollout gradual", c.Stale)

	withConds := testScaledJob(func(sj *v1alpha1.ScaledJob) {
		sj.Spec.ScalingStrategy = &v1alpha1.ScalingStrategy{PendingPodConditions: []string{"Ready", "PodScheduled"}}
	})
	pods := []corev1.Pod{podOf("running", corev1.PodScheduled), podOf("pending", corev1.PodScheduled, corev1.PodReady)}
	c = countJobs(withConds, jobs[3:5], pods)
	check("with pendingPodConditions, pending until a pod has them all", c.Pending, "running")
}
