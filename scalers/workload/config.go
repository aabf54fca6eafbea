// SPDX-License-Identifier: Apache-2.0

package workload

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/ebbscale/ebb/scalers"
)

// Config is a kubernetes-workload trigger's metadata. The keys are KEDA's.
type Config struct {
	// PodSelector is a label selector in kubectl's syntax, e.g.
	// "app=worker,tier in (batch)".
	PodSelector string `meta:"podSelector,from=metadata"`
	// Value is the number of matching pods per replica of the target.
	Value float64 `meta:"value,from=metadata"`
	// ActivationValue: the trigger is active above this many pods.
	ActivationValue float64 `meta:"activationValue,default=0,from=metadata"`
}

// maxSelector bounds the selector's text.
const maxSelector = 1024

type settings struct {
	cfg      Config
	selector labels.Selector
}

// parse reads and checks a trigger's metadata with no I/O.
func parse(t scalers.Trigger) (settings, error) {
	var cfg Config
	if err := scalers.ParseMetadata(t, &cfg); err != nil {
		return settings{}, err
	}
	bad := func(key, format string, args ...any) error {
		return &scalers.FieldError{Trigger: t.String(), Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	if len(cfg.PodSelector) > maxSelector {
		return settings{}, bad("podSelector", "expected a label selector of at most %d characters", maxSelector)
	}
	sel, err := labels.Parse(cfg.PodSelector)
	if err != nil || sel.Empty() {
		return settings{}, bad("podSelector", "expected a label selector such as app=worker (not empty), found %q", cfg.PodSelector)
	}
	if cfg.Value <= 0 {
		return settings{}, bad("value", "expected a number of pods per replica above 0, found %v", cfg.Value)
	}
	if cfg.ActivationValue < 0 {
		return settings{}, bad("activationValue", "expected a number of pods, 0 or more, found %v", cfg.ActivationValue)
	}
	return settings{cfg: cfg, selector: sel}, nil
}
