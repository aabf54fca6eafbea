// SPDX-License-Identifier: Apache-2.0

package cron

import (
	"errors"
	"fmt"
	"strings"
	"time"

	robfig "github.com/robfig/cron/v3"

	"github.com/ebbscale/ebb/scalers"
)

// Config is a cron trigger's metadata. The keys are KEDA's.
type Config struct {
	// Timezone is an IANA time zone name, e.g. Europe/Paris or UTC, in
	// which Start and End are read.
	Timezone string `meta:"timezone"`
	// Start is the cron schedule at which a window opens: five fields
	// (minute hour day-of-month month day-of-week), e.g. "0 8 * * 1-5", or a
	// descriptor such as "@daily". Ebb also accepts a leading seconds field
	// (six fields).
	Start string `meta:"start"`
	// End is the cron schedule at which the window closes.
	End string `meta:"end"`
	// DesiredReplicas is the replica count asked for while a window is
	// open.
	DesiredReplicas int64 `meta:"desiredReplicas,min=1"`
}

// parser reads five-field schedules, KEDA's, and six-field ones that start
// with seconds.
var parser = robfig.NewParser(robfig.SecondOptional | robfig.Minute | robfig.Hour | robfig.Dom | robfig.Month | robfig.Dow | robfig.Descriptor)

// maxSchedule bounds a schedule's text: the parser has no limit of its own.
const maxSchedule = 256

// settings is a checked Config in the form the scaler uses.
type settings struct {
	cfg        Config
	loc        *time.Location
	start, end robfig.Schedule
}

// parse reads and checks a trigger's metadata. It does no I/O and is what
// both Validate and New run.
func parse(t scalers.Trigger) (settings, error) {
	var cfg Config
	if err := scalers.ParseMetadata(t, &cfg); err != nil {
		return settings{}, err
	}
	s := settings{cfg: cfg}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &scalers.FieldError{Trigger: t.String(), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	loc, err := loadLocation(cfg.Timezone)
	if err != nil {
		bad("timezone", "expected an IANA time zone name such as Europe/Paris or UTC, found %q", cfg.Timezone)
	}
	s.loc = loc
	if s.start, err = schedule(cfg.Start); err != nil {
		bad("start", "%v", err)
	}
	if s.end, err = schedule(cfg.End); err != nil {
		bad("end", "%v", err)
	}
	if err == nil && cfg.Start == cfg.End {
		bad("end", "is the same schedule as start: the window would never open")
	}
	if len(errs) > 0 {
		return settings{}, errors.Join(errs...)
	}
	return s, nil
}

// loadLocation reads an IANA zone name. "Local" is refused: the operator's
// own zone is not the user's to rely on.
func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > 64 {
		return nil, fmt.Errorf("invalid zone %q", name)
	}
	return time.LoadLocation(name)
}

// schedule parses one cron schedule. Time zone prefixes (CRON_TZ=, TZ=)
// are refused: the zone is the timezone key's.
func schedule(spec string) (robfig.Schedule, error) {
	if len(spec) > maxSchedule {
		return nil, fmt.Errorf("expected a cron schedule of at most %d characters, found %d", maxSchedule, len(spec))
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("must not name a time zone: set the timezone key")
	}
	if strings.HasPrefix(strings.TrimSpace(spec), "@every") {
		return nil, fmt.Errorf("@every is not a time of day: write the start as a schedule such as \"0 */2 * * *\"")
	}
	sch, err := parse1(spec)
	if err != nil {
		return nil, fmt.Errorf("expected a cron schedule such as \"0 8 * * 1-5\" (minute hour day-of-month month day-of-week), found %q: %v", spec, err)
	}
	return sch, nil
}

// parse1 is the parser's Parse with any panic turned into an error: the
// text is a tenant's.
func parse1(spec string) (sch robfig.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sch, err = nil, errors.New("the schedule could not be read")
		}
	}()
	return parser.Parse(spec)
}
