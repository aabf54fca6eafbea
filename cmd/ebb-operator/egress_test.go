// SPDX-License-Identifier: Apache-2.0

package main

import (
	"io"
	"net/netip"
	"strings"
	"testing"
)

func TestTheEgressFlagsBuildThePolicy(t *testing.T) {
	c, err := parseFlags([]string{"--egress-allow=10.0.0.0/8, *.svc.cluster.local", "--egress-allow=db.example.com", "--egress-deny=10.96.0.1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.egress()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, addr string
		allowed    bool
	}{
		{"prometheus.monitoring.svc.cluster.local", "10.1.2.3", true},
		{"db.example.com", "93.184.216.34", true},
		{"example.org", "93.184.216.34", false},
		{"kubernetes.default.svc.cluster.local", "10.96.0.1", false},
		{"169.254.169.254", "169.254.169.254", false},
	} {
		if err := e.Check(tc.host, netip.MustParseAddr(tc.addr)); (err == nil) != tc.allowed {
			t.Errorf("Check(%s, %s) = %v, want allowed %v", tc.host, tc.addr, err, tc.allowed)
		}
	}
	c, err = parseFlags([]string{"--egress-allow-link-local"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := c.egress(); e.Check("169.254.169.254", netip.MustParseAddr("169.254.169.254")) != nil {
		t.Error("--egress-allow-link-local left the metadata address refused")
	}
	if _, err := parseFlags([]string{"--egress-deny=10.0.0.0/33"}, io.Discard); err == nil || !strings.Contains(err.Error(), `"10.0.0.0/33"`) {
		t.Errorf("a bad deny entry = %v, want an error naming it", err)
	}
}
