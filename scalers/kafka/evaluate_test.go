// SPDX-License-Identifier: Apache-2.0

package kafka

import (
	"math"
	"testing"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// The arithmetic of a reading, on offsets given by hand (the tests against
// kfake cover the same rules end to end).
func TestEvaluate(t *testing.T) {
	offsets := func(parts ...PartitionOffsets) []TopicOffsets {
		return []TopicOffsets{{Topic: "t", Partitions: parts}}
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		typ  v1alpha1.MetricType
		in   []TopicOffsets
		want scalers.Reading
	}{
		{
			name: "a threshold so large that partitions × threshold overflows leaves the value uncapped",
			cfg:  Config{LagThreshold: math.MaxInt64 / 2},
			in:   offsets(PartitionOffsets{0, 0, 5, -1}, PartitionOffsets{1, 0, 7, -1}, PartitionOffsets{2, 0, 9, -1}),
			want: scalers.Reading{Value: 21, Active: true},
		},
		{
			name: "no partitions reads 0, inactive",
			cfg:  Config{LagThreshold: 10},
			in:   nil,
			want: scalers.Reading{},
		},
		{
			name: "limitToPartitionsWithLag with no partition lagging caps at 0",
			cfg:  Config{LagThreshold: 10, LimitToPartitionsWithLag: true},
			in:   offsets(PartitionOffsets{0, 5, 5, -1}),
			want: scalers.Reading{},
		},
		{
			name: "earliest without a log start falls back to the log end",
			cfg:  Config{LagThreshold: 100, OffsetResetPolicy: "earliest"},
			in:   offsets(PartitionOffsets{0, -1, 12, -1}),
			want: scalers.Reading{Value: 12, Active: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ := tc.typ
			if typ == "" {
				typ = v1alpha1.MetricTypeAverageValue
			}
			s := &scaler{cfg: &tc.cfg, earliest: tc.cfg.OffsetResetPolicy == "earliest", metric: scalers.MetricSpec{Type: typ}}
			if got := s.evaluate(tc.in); got != tc.want {
				t.Errorf("evaluate = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPersistentLagStateForgetsPartitionsNoLongerRead(t *testing.T) {
	s := &scaler{cfg: &Config{LagThreshold: 100, ExcludePersistentLag: true}, metric: scalers.MetricSpec{Type: v1alpha1.MetricTypeAverageValue}}
	s.evaluate([]TopicOffsets{{Topic: "a", Partitions: []PartitionOffsets{{0, 1, 5, -1}}}, {Topic: "b", Partitions: []PartitionOffsets{{0, 1, 5, -1}}}})
	s.evaluate([]TopicOffsets{{Topic: "a", Partitions: []PartitionOffsets{{0, 1, 5, -1}}}})
	if _, ok := s.prev[topicPartition{"b", 0}]; ok || len(s.prev) != 1 {
		t.Errorf("remembered offsets = %v, want only a/0", s.prev)
	}
}
