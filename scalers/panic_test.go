// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"errors"
	"strings"
	"testing"
)

func TestGuard(t *testing.T) {
	cases := map[string]struct {
		fn        func() error
		wantValue string
	}{
		"a runtime error keeps the runtime's words": {
			fn:        func() error { var s []int; _ = s[3]; return nil },
			wantValue: "runtime error: index out of range [3] with length 0",
		},
		"a string value shows only its type": {
			fn:        func() error { panic("secret reply bytes") },
			wantValue: "panic(string)",
		},
		"an error value shows only its type": {
			fn:        func() error { panic(errors.New("secret reply bytes")) },
			wantValue: "panic(*errors.errorString)",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := Guard(c.fn)
			var pe *PanicError
			if !errors.As(err, &pe) {
				t.Fatalf("Guard = %v, want a *PanicError", err)
			}
			if pe.Value != c.wantValue {
				t.Errorf("Value = %q, want %q", pe.Value, c.wantValue)
			}
			if strings.Contains(err.Error(), "secret") || !errors.Is(err, ErrPanicked) {
				t.Errorf("error %q: want ErrPanicked's fixed text", err)
			}
		})
	}
	if err := Guard(func() error { return nil }); err != nil {
		t.Errorf("Guard of a function that returns = %v", err)
	}
	v, err := GuardRead(func() (int, error) { return 3, nil })
	if v != 3 || err != nil {
		t.Errorf("GuardRead = %d, %v", v, err)
	}
	v, err = GuardRead(func() (int, error) { panic(1) })
	if v != 0 || !errors.Is(err, ErrPanicked) {
		t.Errorf("GuardRead of a panic = %d, %v", v, err)
	}
}
