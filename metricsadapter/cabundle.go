// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"
)

var apiServices = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// caInjector keeps an APIService's caBundle equal to the adapter's generated
// CA: at start, then once a minute (one GET), so that an APIService
// re-applied without it is repaired.
type caInjector struct {
	client dynamic.Interface
	name   string
	ca     []byte
	clock  clock.Clock
	log    logr.Logger
}

// caCheckInterval is how often the caBundle is checked once it is right.
const caCheckInterval = time.Minute

func (c *caInjector) run(ctx context.Context) {
	retry := time.Second
	for {
		wait := caCheckInterval
		changed, err := c.ensure(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			c.log.Info("Cannot set the APIService's caBundle yet; retrying", "apiService", c.name, "error", err.Error(), "retryIn", retry)
			wait, retry = retry, min(retry*2, 30*time.Second)
		default:
			retry = time.Second
			if changed {
				c.log.Info("Set the APIService's caBundle to the metrics adapter's CA", "apiService", c.name)
			}
		}
		t := c.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// ensure sets the caBundle if it differs and says whether it did.
func (c *caInjector) ensure(ctx context.Context) (bool, error) {
	api, err := c.client.Resource(apiServices).Get(ctx, c.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, fmt.Errorf("APIService %s does not exist", c.name)
	}
	if err != nil {
		return false, err
	}
	cur, _, _ := unstructured.NestedString(api.Object, "spec", "caBundle")
	if have, err := base64.StdEncoding.DecodeString(cur); err == nil && bytes.Equal(have, c.ca) {
		return false, nil
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"caBundle": base64.StdEncoding.EncodeToString(c.ca)}})
	if err != nil {
		return false, err
	}
	if _, err := c.client.Resource(apiServices).Patch(ctx, c.name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "ebb-operator"}); err != nil {
		return false, err
	}
	return true, nil
}
