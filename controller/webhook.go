// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"errors"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/hostclaims"
)

// Validator is the admission webhook for ScaledObjects. It runs the same
// metadata parser as the scalers, so a typo fails at `kubectl apply` naming
// the trigger and the key, and it rejects a second owner of a target.
type Validator struct {
	Registry *scalers.Registry
	// Client reads ScaledObjects and HPAs (from the manager's cache).
	Client client.Reader
	// Auth, when set, checks each trigger's ClusterTriggerAuthentication:
	// its namespace must be allowed, and its endpoints pinned.
	Auth *scalers.AuthResolver
	// Claims, when set, reads the interceptor routes' host claims (an
	// uncached GET of one ConfigMap in ClaimsNamespace): a ScaledObject
	// publishing a route for a host another namespace owns is refused.
	Claims          client.Reader
	ClaimsNamespace string
	// Grants, with Claims, are the administrator's host grants: a host glob
	// (or a host under a granted glob) in a namespace not granted it is
	// refused, as the interceptors leave it out.
	Grants hostclaims.Grants
}

var _ admission.Validator[*v1alpha1.ScaledObject] = (*Validator)(nil)

// SetupWebhookWithManager registers the webhook at
// /validate-ebb-dev-v1alpha1-scaledobject.
func (v *Validator) SetupWebhookWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &v1alpha1.ScaledObject{}).WithValidator(v).Complete()
}

// ValidateCreate validates a new ScaledObject.
func (v *Validator) ValidateCreate(ctx context.Context, so *v1alpha1.ScaledObject) (admission.Warnings, error) {
	return nil, v.validate(ctx, so, true)
}

// ValidateUpdate validates a changed ScaledObject.
func (v *Validator) ValidateUpdate(ctx context.Context, old, so *v1alpha1.ScaledObject) (admission.Warnings, error) {
	if !so.DeletionTimestamp.IsZero() {
		return nil, nil // let finalization finish whatever the spec says
	}
	// The ClusterTriggerAuthentications are checked again when the triggers
	// change; a write that leaves them (the operator's finalizer, a label)
	// is not refused for a restriction added later, which the reconciler
	// enforces.
	return nil, v.validate(ctx, so, !apiequality.Semantic.DeepEqual(old.Spec.Triggers, so.Spec.Triggers))
}

// ValidateDelete allows every delete.
func (v *Validator) ValidateDelete(context.Context, *v1alpha1.ScaledObject) (admission.Warnings, error) {
	return nil, nil
}

func (v *Validator) validate(ctx context.Context, so *v1alpha1.ScaledObject, checkAuth bool) error {
	var pins []*scalers.EndpointPin
	var errs field.ErrorList
	if checkAuth {
		var err error
		if pins, errs, err = clusterAuths(ctx, v.Auth, so.Namespace, so.Spec.Triggers); err != nil {
			return err
		}
	}
	errs = append(errs, validateSpec(v.Registry, so, pins)...)
	if v.Client != nil {
		if msg, err := findConflict(ctx, v.Client, so, false); err != nil {
			return apierrors.NewInternalError(err)
		} else if msg != "" {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "scaleTargetRef"), msg))
		}
	}
	if v.Claims != nil {
		owned, err := hostOwnedElsewhere(ctx, v.Claims, v.ClaimsNamespace, so) // hostclaims.go
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		for i, host := range owned {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "triggers").Index(i).Child("metadata").Key("host"),
				fmt.Sprintf("host %s belongs to another namespace (an interceptor route's host belongs to one namespace, and keeps it for a grace period after its last route goes); expected a host no other namespace uses", host)))
		}
		for i, t := range so.Spec.Triggers {
			if host := hostclaims.HostOf(t.Type, t.Metadata); host != "" && !v.Grants.Allowed(so.Namespace, host) {
				errs = append(errs, field.Forbidden(field.NewPath("spec", "triggers").Index(i).Child("metadata").Key("host"),
					fmt.Sprintf("host %s is not granted to this namespace: a host glob, and a host under a granted glob, are served only in the namespaces an administrator grants them (chart value interceptor.hostGrants)", host)))
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(v1alpha1.GroupVersion.WithKind("ScaledObject").GroupKind(), so.Name, errs)
}

// ValidateSpec checks what the CRD schema cannot: each trigger's type and
// metadata (credentials not yet resolved), the formula, the pause
// annotations. It does no I/O.
func ValidateSpec(reg *scalers.Registry, so *v1alpha1.ScaledObject) field.ErrorList {
	return validateSpec(reg, so, nil)
}

// validateSpec is ValidateSpec with pins[i], when set, trigger i's endpoint
// pin (see clusterAuths).
func validateSpec(reg *scalers.Registry, so *v1alpha1.ScaledObject, pins []*scalers.EndpointPin) field.ErrorList {
	names := make([]string, len(so.Spec.Triggers))
	for i := range so.Spec.Triggers {
		names[i] = so.Spec.TriggerName(i)
	}
	errs := validateName(so.Name)
	errs = append(errs, validateTriggers(reg, so.Namespace, so.Name, so.Spec.Triggers, names, pins)...)
	errs = append(errs, validateResourceOnly(reg, so)...)
	if a := so.Spec.Advanced; a != nil && a.ScalingModifiers != nil && a.ScalingModifiers.Formula != "" {
		if _, err := CompileTriggersComposite(reg, a.ScalingModifiers, so.Spec.Triggers, names); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "advanced", "scalingModifiers", "formula"), a.ScalingModifiers.Formula, err.Error()))
		}
	}
	if v, ok := so.Annotations[v1alpha1.AnnotationPausedReplicas]; ok {
		if _, n := PauseOf(so); n == nil {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "annotations").Key(v1alpha1.AnnotationPausedReplicas), v, "expected a whole number of replicas, 0 or more"))
		}
	}
	errs = append(errs, validateBoolAnnotations(so.Annotations, v1alpha1.AnnotationPaused,
		v1alpha1.AnnotationPausedScaleIn, v1alpha1.AnnotationPausedScaleOut, v1alpha1.AnnotationForceActivation)...)
	return errs
}

// validateResourceOnly applies KEDA's rule for a ScaledObject whose
// triggers are all cpu or memory: nothing could wake its target from zero
// (or from idle), since the HPA reads those metrics only while pods run, so
// it may rest neither at zero nor at an idle count.
func validateResourceOnly(reg *scalers.Registry, so *v1alpha1.ScaledObject) field.ErrorList {
	if len(so.Spec.Triggers) == 0 {
		return nil
	}
	for _, t := range so.Spec.Triggers {
		if !reg.IsResource(t.Type) {
			return nil
		}
	}
	var errs field.ErrorList
	if so.Spec.MinReplicas() < 1 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "minReplicaCount"), so.Spec.MinReplicas(),
			"expected 1 or more: every trigger is cpu or memory, which the HPA reads only from running pods, so nothing would wake the target from zero (add an event trigger to scale to zero)"))
	}
	if so.Spec.IdleReplicaCount != nil {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "idleReplicaCount"),
			"every trigger is cpu or memory, which never activate a target, so it would never leave the idle count"))
	}
	return errs
}

// validateName refuses a name that cannot be a label value: Ebb labels the
// HPA, and the Jobs it creates, with their owner's name, so a longer name
// would fail only later, when that object is written. The CRD schema says the
// same; this check also covers `ebb explain` and an old CRD.
func validateName(name string) field.ErrorList {
	if len(name) > validation.LabelValueMaxLength {
		return field.ErrorList{field.TooLong(field.NewPath("metadata", "name"), name, validation.LabelValueMaxLength)}
	}
	return nil
}

func validatePaused(annotations map[string]string) field.ErrorList {
	return validateBoolAnnotations(annotations, v1alpha1.AnnotationPaused)
}

// validateBoolAnnotations refuses each of keys whose value is set and is not
// "true" or "false", naming the annotation. The value is quoted back
// bounded: an annotation may be 256 KiB.
func validateBoolAnnotations(annotations map[string]string, keys ...string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range keys {
		if v, ok := annotations[k]; ok && v != "true" && v != "false" {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "annotations").Key(k), sanitize(v, 64), `expected "true" or "false"`))
		}
	}
	return errs
}

// clusterAuths checks the ClusterTriggerAuthentication each trigger names
// (with auth's one rule, scalers.AuthResolver.ClusterAuthFor): a namespace
// it does not allow is refused on spec.triggers[i].authenticationRef, and
// pins[i] is trigger i's endpoint pin, for its metadata's check. A
// ClusterTriggerAuthentication that does not exist yet is let through: the
// trigger fails at the build until it exists, and is checked then. err is
// an internal error when one cannot be read.
func clusterAuths(ctx context.Context, auth *scalers.AuthResolver, ns string, triggers []v1alpha1.Trigger) (pins []*scalers.EndpointPin, errs field.ErrorList, err error) {
	if auth == nil {
		return nil, nil, nil
	}
	pins = make([]*scalers.EndpointPin, len(triggers))
	for i, t := range triggers {
		ref := t.AuthenticationRef
		if ref == nil || ref.Kind != "ClusterTriggerAuthentication" {
			continue
		}
		_, pin, cerr := auth.ClusterAuthFor(ctx, ns, ref.Name)
		switch {
		case cerr == nil:
			pins[i] = pin
		case scalers.IsClusterAuthNotAllowed(cerr):
			errs = append(errs, field.Forbidden(field.NewPath("spec", "triggers").Index(i).Child("authenticationRef"), cerr.Error()))
		case errors.Is(cerr, scalers.ErrNotFound):
		default:
			return nil, nil, apierrors.NewInternalError(fmt.Errorf("trigger %d: %w", i, cerr))
		}
	}
	return pins, errs, nil
}

// validateTriggers runs each trigger's metadata through its type's parser
// (credentials not yet resolved); pins[i], when set, is trigger i's endpoint
// pin.
func validateTriggers(reg *scalers.Registry, namespace, owner string, triggers []v1alpha1.Trigger, names []string, pins []*scalers.EndpointPin) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("spec", "triggers")
	for i, t := range triggers {
		p := path.Index(i)
		typ, ok := reg.Lookup(t.Type)
		if !ok {
			errs = append(errs, field.NotSupported(p.Child("type"), t.Type, reg.Names()))
			continue
		}
		tr := scalers.Trigger{
			Namespace: namespace, ScaledObject: owner, Index: i, Name: names[i], Type: t.Type,
			Metadata: t.Metadata, MetricType: t.MetricType, AuthPending: true,
		}
		if i < len(pins) {
			tr.Pin = pins[i]
		}
		if t.MetricType == v1alpha1.MetricTypeUtilization && !reg.IsResource(t.Type) {
			errs = append(errs, field.NotSupported(p.Child("metricType"), t.MetricType,
				[]string{string(v1alpha1.MetricTypeAverageValue), string(v1alpha1.MetricTypeValue)}))
			continue
		}
		if t.MetricType == v1alpha1.MetricTypeValue && reg.IsResource(t.Type) {
			errs = append(errs, field.NotSupported(p.Child("metricType"), t.MetricType,
				[]string{string(v1alpha1.MetricTypeUtilization), string(v1alpha1.MetricTypeAverageValue)}))
			continue
		}
		err := typ.Validate(tr)
		errs = append(errs, metadataErrors(p.Child("metadata"), err)...)
	}
	return errs
}

// JobValidator is the admission webhook for ScaledJobs: the same metadata
// parser as for ScaledObjects, so a typo fails at `kubectl apply` naming the
// trigger and the key.
type JobValidator struct {
	Registry *scalers.Registry
	// Auth, when set, checks each trigger's ClusterTriggerAuthentication,
	// as Validator's does.
	Auth *scalers.AuthResolver
	// Disabled refuses new ScaledJobs: the operator runs without them
	// (controller.Options.DisableScaledJobs).
	Disabled bool
}

var _ admission.Validator[*v1alpha1.ScaledJob] = (*JobValidator)(nil)

// SetupWebhookWithManager registers the webhook at
// /validate-ebb-dev-v1alpha1-scaledjob.
func (v *JobValidator) SetupWebhookWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &v1alpha1.ScaledJob{}).WithValidator(v).Complete()
}

// ValidateCreate validates a new ScaledJob.
func (v *JobValidator) ValidateCreate(ctx context.Context, sj *v1alpha1.ScaledJob) (admission.Warnings, error) {
	if v.Disabled {
		return nil, apierrors.NewForbidden(v1alpha1.GroupVersion.WithResource("scaledjobs").GroupResource(), sj.Name,
			errors.New("ScaledJobs are not enabled in this Ebb install: nothing would run its Jobs (an administrator enables them with the chart value scaledJobs.enabled=true)"))
	}
	return nil, v.validate(ctx, sj, true)
}

// ValidateUpdate validates a changed ScaledJob.
func (v *JobValidator) ValidateUpdate(ctx context.Context, old, sj *v1alpha1.ScaledJob) (admission.Warnings, error) {
	if !sj.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	return nil, v.validate(ctx, sj, !apiequality.Semantic.DeepEqual(old.Spec.Triggers, sj.Spec.Triggers))
}

// ValidateDelete allows every delete.
func (v *JobValidator) ValidateDelete(context.Context, *v1alpha1.ScaledJob) (admission.Warnings, error) {
	return nil, nil
}

func (v *JobValidator) validate(ctx context.Context, sj *v1alpha1.ScaledJob, checkAuth bool) error {
	var pins []*scalers.EndpointPin
	var errs field.ErrorList
	if checkAuth {
		var err error
		if pins, errs, err = clusterAuths(ctx, v.Auth, sj.Namespace, sj.Spec.Triggers); err != nil {
			return err
		}
	}
	if errs = append(errs, validateJobSpec(v.Registry, sj, pins)...); len(errs) > 0 {
		return apierrors.NewInvalid(v1alpha1.GroupVersion.WithKind("ScaledJob").GroupKind(), sj.Name, errs)
	}
	return nil
}

// ValidateJobSpec checks what the CRD schema cannot: each trigger's type
// and metadata, and the pause annotation. It does no I/O.
func ValidateJobSpec(reg *scalers.Registry, sj *v1alpha1.ScaledJob) field.ErrorList {
	return validateJobSpec(reg, sj, nil)
}

func validateJobSpec(reg *scalers.Registry, sj *v1alpha1.ScaledJob, pins []*scalers.EndpointPin) field.ErrorList {
	names := make([]string, len(sj.Spec.Triggers))
	for i := range sj.Spec.Triggers {
		names[i] = sj.Spec.TriggerName(i)
	}
	errs := validateName(sj.Name)
	errs = append(errs, validateTriggers(reg, sj.Namespace, sj.Name, sj.Spec.Triggers, names, pins)...)
	for i, t := range sj.Spec.Triggers {
		if reg.IsResource(t.Type) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "triggers").Index(i).Child("type"),
				fmt.Sprintf("a %s trigger does not apply to a ScaledJob: Jobs are not scaled by an HPA", t.Type)))
		}
	}
	return append(errs, validatePaused(sj.Annotations)...)
}

// metadataErrors turns a scaler's validation error into field errors on
// spec.triggers[i].metadata[key]. Values are never echoed: they may be
// credentials.
func metadataErrors(p *field.Path, err error) field.ErrorList {
	if err == nil {
		return nil
	}
	var out field.ErrorList
	var walk func(error)
	walk = func(e error) {
		if joined, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range joined.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *scalers.FieldError
		if errors.As(e, &fe) {
			out = append(out, &field.Error{Type: field.ErrorTypeInvalid, Field: p.Key(fe.Key).String(), BadValue: field.OmitValueType{}, Detail: fmt.Sprintf("%s: key %q %s", fe.Trigger, fe.Key, fe.Msg)})
			return
		}
		out = append(out, &field.Error{Type: field.ErrorTypeInvalid, Field: p.String(), BadValue: field.OmitValueType{}, Detail: sanitize(e.Error(), 512)})
	}
	walk(err)
	return out
}
