package scalers

import (
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
