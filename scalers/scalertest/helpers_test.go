// SPDX-License-Identifier: Apache-2.0

package scalertest

import (
	"maps"
	"testing"
)

func TestWithCopiesSetsAndDeletes(t *testing.T) {
	m := map[string]string{"queueName": "q", "value": "5"}
	got := With(m, "value", "10", "queueName", "", "mode", "QueueLength")
	want := map[string]string{"value": "10", "mode": "QueueLength"}
	if !maps.Equal(got, want) {
		t.Errorf("With = %v, want %v", got, want)
	}
	if !maps.Equal(m, map[string]string{"queueName": "q", "value": "5"}) {
		t.Errorf("With changed its input: %v", m)
	}
}
