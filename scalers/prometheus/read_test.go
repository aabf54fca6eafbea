// SPDX-License-Identifier: Apache-2.0

package prometheus

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ebbscale/ebb/scalers"
)

// standIn is a querier that answers what the test says.
type standIn struct {
	res result
	err error
}

func (q standIn) Query(context.Context, string) (result, error) { return q.res, q.err }

func TestReadInterpretsWhatTheQuerierReturns(t *testing.T) {
	const password = "st4nd-in-secret"
	tests := map[string]struct {
		meta    []string
		answer  standIn
		want    scalers.Reading
		wantErr string
	}{
		"a value above the activation threshold is active": {
			meta: []string{"activationThreshold", "5"}, answer: standIn{res: result{Value: 6}}, want: scalers.Reading{Value: 6, Active: true},
		},
		"a value equal to the activation threshold is not active": {
			meta: []string{"activationThreshold", "5"}, answer: standIn{res: result{Value: 5}}, want: scalers.Reading{Value: 5},
		},
		"an empty result is an error by default": {
			answer: standIn{res: result{Empty: true}}, wantErr: "no series",
		},
		"an empty result is 0 with ignoreNullValues": {
			meta: []string{"ignoreNullValues", "true"}, answer: standIn{res: result{Empty: true}}, want: scalers.Reading{},
		},
		"an empty result with a negative activation threshold is 0 and active": {
			meta: []string{"ignoreNullValues", "true", "activationThreshold", "-1"}, answer: standIn{res: result{Empty: true}}, want: scalers.Reading{Active: true},
		},
		"a querier error that quotes the password is redacted": {
			answer: standIn{err: errors.New("upstream said: bad password " + password)}, wantErr: "bad password " + scalers.Redacted,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			typ := NewType()
			sc := newScaler(t, typ, trigger(baseMeta(append([]string{"authModes", "basic"}, tc.meta...)...), map[string]string{"username": "u", "password": password}))
			sc.(*scaler).q = tc.answer
			r, err := sc.Read(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Read = %+v, %v; want an error containing %q", r, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), password) {
					t.Errorf("error %q contains the password", scalers.RedactString(err.Error(), password))
				}
				if r != (scalers.Reading{}) {
					t.Errorf("Read returned %+v along with its error", r)
				}
				return
			}
			if err != nil || r != tc.want {
				t.Fatalf("Read = %+v, %v; want %+v", r, err, tc.want)
			}
		})
	}
}
