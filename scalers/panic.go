// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
)

// ErrPanicked is what a read fails with when its Scaler panicked: test for
// it with errors.Is. The panic was recovered; the process and the other
// triggers go on.
var ErrPanicked = errors.New("the scaler panicked")

// PanicError is a panic recovered from a Scaler: in a read, or in a
// goroutine the Scaler started. Its text is fixed, whatever the panic's
// value, since that value may hold bytes a source sent (a parser's message
// quoting the input, say), and the text reaches status and Events. Value and
// Stack are for the operator's log only.
type PanicError struct {
	// Value describes the panic's value without repeating it: a runtime
	// error's message (an index and a length, a type assertion's types),
	// else only the value's Go type.
	Value string
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

func (e *PanicError) Error() string {
	return ErrPanicked.Error() + " (recovered; the operator log has its stack)"
}

// Is makes errors.Is(err, ErrPanicked) hold.
func (e *PanicError) Is(target error) bool { return target == ErrPanicked }

// Recovered turns the value of recover() into a *PanicError; call it from
// the deferred function that recovered, so that the stack is the panic's.
func Recovered(v any) *PanicError {
	return &PanicError{Value: describePanic(v), Stack: debug.Stack()}
}

// describePanic names a panic's value without its content. A runtime
// error's message is the runtime's own words (numbers and type names), so it
// is kept; any other value may carry foreign bytes, so only its type is.
func describePanic(v any) string {
	if re, ok := v.(runtime.Error); ok {
		return re.Error()
	}
	return fmt.Sprintf("panic(%T)", v)
}

// Guard runs fn and returns its error, or a *PanicError when fn panics. A
// goroutine a Scaler starts runs its work through Guard (or recovers with
// Recovered), so that a panic fails that work instead of the process.
func Guard(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = Recovered(v)
		}
	}()
	return fn()
}

// GuardRead is Guard for a read that returns a value.
func GuardRead[V any](fn func() (V, error)) (v V, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero V
			v, err = zero, Recovered(r)
		}
	}()
	return fn()
}
