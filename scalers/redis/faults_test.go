// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
	"github.com/ebbscale/ebb/tests/faultproxy"
)

func TestAServerThatGoesAwayIsAnErrorUntilItComesBack(t *testing.T) {
	a := newAdmin(t)
	lists, _, _ := testTypes(t)
	proxy := faultproxy.New(t, redisAddr, nil)
	list := a.list(3)
	sc := newScaler(t, lists, listTrigger(map[string]string{"address": proxy.Addr(), "listName": list, "timeout": "3s"}, nil))
	expect(t, scalertest.MustRead(t, sc), 3, true)

	proxy.Stop()
	// Reads fail, never reading zero, until the server is back (more than
	// maxConns of them, so that go-redis stops dialing on each read and
	// waits for its background redial).
	for i := 0; i < 2*maxConns; i++ {
		readErr(t, sc)
	}
	proxy.Start(t)
	a.push(list, 2)
	scalertest.Eventually(t, 15*time.Second, "a read to reconnect and see 5 items", func() (bool, string) {
		r, err := scalertest.Read(sc)
		if err != nil {
			return false, err.Error()
		}
		return r.Value == 5, "value " + ftoa(r.Value)
	})
}

func TestTheLagOfAServerWithoutLagIsAnError(t *testing.T) {
	// Redis 6 answers XINFO GROUPS without a lag field: reading one as 0
	// would be a zero for an error.
	cmd := goredis.NewCmd(context.Background())
	cmd.SetVal([]any{[]any{"name", "g", "consumers", int64(0), "pending", int64(0), "last-delivered-id", "0-0"}})
	c := &client{sh: newShared("unused", scalers.DefaultEgress())}
	if _, err := c.lag(context.Background(), query{kind: kindLag, key: "s", group: "g"}, cmd, 5); !errors.Is(err, ErrNoLag) {
		t.Errorf("lag of a reply without lag = %v, want ErrNoLag", err)
	}
}
