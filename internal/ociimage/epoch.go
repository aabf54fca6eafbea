// SPDX-License-Identifier: Apache-2.0

package ociimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// SourceDateEpoch is the time every timestamp of an image built from dir
// is set to: the SOURCE_DATE_EPOCH environment variable (seconds since
// 1970, https://reproducible-builds.org/specs/source-date-epoch/) when set,
// else the committer time of dir's HEAD, else the Unix epoch.
func SourceDateEpoch(ctx context.Context, dir string) (time.Time, error) {
	if s, ok := os.LookupEnv("SOURCE_DATE_EPOCH"); ok && s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil || sec < 0 {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative number of seconds", s)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	out, err := git(ctx, dir, "log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		return time.Unix(0, 0).UTC(), nil
	}
	return time.Unix(sec, 0).UTC(), nil
}

// gitRevision is dir's HEAD commit, or "" outside a git checkout.
func gitRevision(ctx context.Context, dir string) string {
	out, err := git(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return ""
	}
	return out
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
