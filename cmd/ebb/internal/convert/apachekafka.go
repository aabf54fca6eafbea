// SPDX-License-Identifier: Apache-2.0

package convert

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// kedaApacheKafka is the type of KEDA's experimental Kafka scaler. Its keys
// are a subset of those of KEDA's kafka trigger, and Ebb's kafka trigger
// serves them (Ebb also serves apache-kafka as another name of it), but a
// few of them mean something else.
const kedaApacheKafka = "apache-kafka"

// apacheKafka finishes an apache-kafka trigger converted as Ebb's kafka
// trigger t (its metadata filtered already): it reports what reads
// differently, and returns the triggers to write: one per topic when the
// KEDA trigger lists several (its topic key takes a comma-separated list,
// Ebb's kafka trigger one topic). sumInFormula says the caller may add the
// per-topic triggers up in a scalingModifiers formula (the object has no
// other trigger and no formula of its own); the formula is returned then.
func (o *objctx) apacheKafka(n *node, t v1alpha1.Trigger, sumInFormula bool) ([]v1alpha1.Trigger, *v1alpha1.ScalingModifiers) {
	md := t.Metadata
	o.report(Note, n.field("type"), "written as kafka: Ebb's kafka trigger reads the keys of KEDA's apache-kafka (Ebb serves apache-kafka as another name of it, but kafka is its own name); the metric is named s<index>-kafka-<topic>")
	if md == nil {
		return []v1alpha1.Trigger{t}, nil
	}
	if md["sasl"] == "aws_msk_iam" {
		o.report(Changed, n.field("metadata.sasl"), "aws_msk_iam: Ebb's kafka trigger has no AWS MSK IAM authentication (sasl takes none, plaintext, scram_sha256, scram_sha512 or oauthbearer); give the cluster a SCRAM or mutual TLS listener for it")
	}
	if md["offsetResetPolicy"] == "earliest" {
		o.report(Changed, n.field("metadata.offsetResetPolicy"), "earliest: for a partition with no committed offset Ebb's lag is the records still in the log (log end − log start); KEDA's apache-kafka took the log end offset, which is more once retention has removed the log's start")
	}
	if md["excludePersistentLag"] == "true" {
		o.report(Changed, n.field("metadata.excludePersistentLag"), "true: Ebb leaves a partition out of the value once it had lag at the previous read too and its committed offset has not moved; KEDA's apache-kafka left it out as soon as its offset equalled the previous read's, so a caught-up partition that received new records was left out on the first read that saw them")
	}

	var topics []string
	for _, tp := range strings.Split(md["topic"], ",") {
		if tp = strings.TrimSpace(tp); tp != "" && !slices.Contains(topics, tp) {
			topics = append(topics, tp)
		}
	}
	if len(topics) == 0 {
		delete(md, "topic")
		o.report(Changed, n.field("metadata.topic"), "not set: KEDA's apache-kafka measured every topic in the cluster's metadata, and failed while the group had no active member; Ebb's kafka trigger measures the topics the group has committed offsets for, and reports an error while it has none: set topic to say which")
		if _, ok := md["partitionLimitation"]; ok {
			delete(md, "partitionLimitation")
			o.report(Note, n.field("metadata.partitionLimitation"), "KEDA's apache-kafka ignores it without topic, and Ebb's kafka trigger refuses it without topic: left out")
		}
		return []v1alpha1.Trigger{t}, nil
	}
	if len(topics) == 1 {
		md["topic"] = topics[0]
		return []v1alpha1.Trigger{t}, nil
	}

	// Several topics: one trigger each, with the same keys.
	base := t.Name
	if base == "" {
		base = "kafka"
	}
	formula := sumInFormula && len(topics) <= maxTriggers
	out := make([]v1alpha1.Trigger, len(topics))
	names := make([]string, len(topics))
	used := map[string]bool{}
	for i, tp := range topics {
		c := t
		c.Metadata = maps.Clone(md)
		c.Metadata["topic"] = tp
		name := sanitizeName(base+" "+tp, formula)
		if formula && exprReserved[name] {
			name = "t" + name
		}
		for k, stem := 2, name; used[name]; k++ {
			suffix := strconv.Itoa(k)
			if !formula {
				suffix = "-" + suffix
			}
			name = stem + suffix
		}
		used[name] = true
		c.Name, names[i] = name, name
		out[i] = c
	}
	list := strings.Join(topics, ", ")
	switch {
	case formula:
		sm := &v1alpha1.ScalingModifiers{Formula: strings.Join(names, " + "), Target: cmp.Or(md["lagThreshold"], "10"), ActivationTarget: md["activationLagThreshold"]}
		o.report(Changed, n.field("metadata.topic"), "lists %d topics (%s); Ebb's kafka trigger reads one: written as one kafka trigger per topic, added up by advanced.scalingModifiers (formula %s, target %s), so the replica count follows the total lag as before. The cap of one replica per partition now applies per topic, and while one topic cannot be read the total is unknown", len(topics), list, sm.Formula, sm.Target)
		return out, sm
	case o.kind == "ScaledJob":
		o.report(Changed, n.field("metadata.topic"), "lists %d topics (%s); Ebb's kafka trigger reads one: written as one kafka trigger per topic, and the Jobs follow the largest of their lags unless scalingStrategy.multipleScalersCalculation is sum", len(topics), list)
	default:
		o.report(Changed, n.field("metadata.topic"), "lists %d topics (%s); Ebb's kafka trigger reads one: written as one kafka trigger per topic, and the HPA follows the largest of their lags, not their total (the object has other triggers or a formula, so they are not added up for you)", len(topics), list)
	}
	return out, nil
}
