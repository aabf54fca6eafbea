// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
)

// /readyz fails until the caches have synced, then passes: a new pod does
// not take webhook or adapter traffic on a partial view of the cluster.
func TestReadyOnlyOnceTheCachesHaveSynced(t *testing.T) {
	e := newEnv(t, false)
	scheme := e.c.Scheme()
	c, err := cache.New(cp.Config, cache.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetInformer(t.Context(), &v1alpha1.ScaledObject{}); err != nil {
		t.Fatal(err)
	}
	check := controller.CachesSynced(c)
	req := httptest.NewRequest("GET", "/readyz", nil)
	if err := check(req); err == nil {
		t.Fatal("ready before the cache was started")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e.waitFor(30*time.Second, "ready once the cache has synced", func() (bool, error) {
		return check(req) == nil, nil
	})
}
