// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"encoding/json"
	"testing"
)

// A server lists every replica of a consumer but itself: the leader is among
// the replicas exactly when the answering server is a follower. (The real
// three-node cluster test checks the same against nats-server.)
func TestWhetherTheAnsweringServerFollows(t *testing.T) {
	cases := map[string]struct {
		cluster  string
		follower bool
		leader   string
	}{
		"a server outside any cluster leads": {cluster: `null`, follower: false},
		"a standalone server names itself the leader, with no replicas": {
			cluster: `{"leader":"n1"}`, follower: false, leader: "n1",
		},
		"the leader lists the other replicas": {
			cluster: `{"leader":"n1","replicas":[{"name":"n2"},{"name":"n3"}]}`, follower: false, leader: "n1",
		},
		"a follower lists the leader among the replicas": {
			cluster: `{"leader":"n1","replicas":[{"name":"n1"},{"name":"n3"}]}`, follower: true, leader: "n1",
		},
		"a consumer without a leader is not read": {
			cluster: `{"replicas":[{"name":"n1"},{"name":"n3"}]}`, follower: true, leader: "",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var c *clusterInfo
			if err := json.Unmarshal([]byte(tc.cluster), &c); err != nil {
				t.Fatal(err)
			}
			follower, leader := c.follower()
			if follower != tc.follower || leader != tc.leader {
				t.Errorf("follower() = %v, %q; want %v, %q", follower, leader, tc.follower, tc.leader)
			}
		})
	}
}
