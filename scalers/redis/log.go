// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	goredis "github.com/redis/go-redis/v9"
)

// SetLogger sends go-redis's own log lines (a failed dial, a pool event),
// which it otherwise prints to standard error, to log at verbosity 1. The
// library has one logger per process, so a program calls this once. Its
// lines name addresses, never credentials.
func SetLogger(log logr.Logger) { goredis.SetLogger(logrPrinter{log}) }

type logrPrinter struct{ log logr.Logger }

func (p logrPrinter) Printf(_ context.Context, format string, v ...any) {
	p.log.V(1).Info(fmt.Sprintf(format, v...))
}
