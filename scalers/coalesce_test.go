// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestCoalesceKey(t *testing.T) {
	k := CoalesceKey("amqp", "broker:5672", "guest", "s3cret")
	if k != CoalesceKey("amqp", "broker:5672", "guest", "s3cret") {
		t.Error("the same fields give different keys")
	}
	if strings.Contains(k, "s3cret") || len(k) != 64 {
		t.Errorf("key %q: want a hex SHA-256 digest that holds no field", k)
	}
	for _, other := range [][]string{
		{"amqp", "broker:5672", "guest", "other"},
		{"amqp", "broker:5672", "gues", "ts3cret"}, // fields are delimited, not run together
		{"amqp", "broker:5672", "guest"},
	} {
		if CoalesceKey(other...) == k {
			t.Errorf("CoalesceKey(%q) = the key of other fields", other)
		}
	}
}

// A panicking run fails every caller with a *PanicError, and the key is
// free again: the next call runs.
func TestCoalescerPanic(t *testing.T) {
	var c Coalescer[int]
	release := make(chan struct{})
	joined := make(chan error, 1)
	go func() {
		<-release
		_, err := c.Do(t.Context(), "k", func(context.Context) (int, error) { return 0, nil })
		joined <- err
	}()
	_, err := c.Do(t.Context(), "k", func(context.Context) (int, error) {
		close(release)
		panic("boom: the source sent \x00\xff")
	})
	var pe *PanicError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPanicked) {
		t.Fatalf("Do = %v, want a *PanicError", err)
	}
	if strings.Contains(err.Error(), "boom") || strings.Contains(pe.Value, "boom") {
		t.Errorf("the error (%q, value %q) repeats the panic's value", err, pe.Value)
	}
	if !strings.Contains(string(pe.Stack), "TestCoalescerPanic") {
		t.Errorf("the stack does not show the panicking function:\n%s", pe.Stack)
	}
	// The caller that joined got the panic or ran afresh; either way it
	// returned.
	if err := <-joined; err != nil && !errors.Is(err, ErrPanicked) {
		t.Errorf("the joined caller got %v", err)
	}
	v, err := c.Do(t.Context(), "k", func(context.Context) (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Errorf("after the panic, Do = %d, %v; want 7, nil", v, err)
	}
}
