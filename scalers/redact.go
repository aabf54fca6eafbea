// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"net/url"
	"regexp"
	"strings"
)

// Redacted stands in the place of a credential in error text.
const Redacted = "[redacted]"

var userinfoInURL = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s"']+@`)

// Redact returns err with every secret value, and the user information of any
// URL, replaced by [redacted]. errors.Is and errors.As still see the original
// chain (for context.DeadlineExceeded and the like); its text is never shown.
// Empty secrets are ignored.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := RedactString(err.Error(), secrets...)
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Reword returns an error whose text is msg, Ebb's words, in place of err's
// (which holds bytes a server sent); errors.Is and errors.As still see err.
func Reword(err error, msg string) error { return &redactedError{msg: msg, err: err} }

// RedactString is Redact for a string.
func RedactString(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		s = strings.ReplaceAll(s, sec, Redacted)
		if esc := url.QueryEscape(sec); esc != sec {
			s = strings.ReplaceAll(s, esc, Redacted)
		}
		if esc := url.PathEscape(sec); esc != sec {
			s = strings.ReplaceAll(s, esc, Redacted)
		}
	}
	return userinfoInURL.ReplaceAllString(s, "${1}"+Redacted+"@")
}
