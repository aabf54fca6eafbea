// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"

	"github.com/ebbscale/ebb/scalers"
)

// maxEventMessage bounds an Event's message, in bytes.
const maxEventMessage = 1024

// sanitize makes text fit to show outside Ebb (a status message, an Event,
// the HPA): URL user information redacted, control characters and invalid
// UTF-8 replaced, and at most n bytes (cut at a character boundary, marked
// with …). Error text may carry bytes a tenant's server chose; this is the
// one sanitizer every such path uses.
func sanitize(s string, n int) string {
	s = scalers.RedactString(strings.ToValidUTF8(s, "\uFFFD"))
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// redactingRecorder sends every Event's message through sanitize, whatever
// the Event path formats into it (a scaler's error, an API server's reason).
type redactingRecorder struct {
	record.EventRecorder
}

// NewEventRecorder wraps r so that no Event message carries URL user
// information, control characters or more than 1 KiB of text.
func NewEventRecorder(r record.EventRecorder) record.EventRecorder {
	return redactingRecorder{r}
}

func (r redactingRecorder) Event(obj runtime.Object, eventtype, reason, message string) {
	r.EventRecorder.Event(obj, eventtype, reason, sanitize(message, maxEventMessage))
}

func (r redactingRecorder) Eventf(obj runtime.Object, eventtype, reason, format string, args ...any) {
	r.Event(obj, eventtype, reason, fmt.Sprintf(format, args...))
}

func (r redactingRecorder) AnnotatedEventf(obj runtime.Object, annotations map[string]string, eventtype, reason, format string, args ...any) {
	r.EventRecorder.AnnotatedEventf(obj, annotations, eventtype, reason, "%s", sanitize(fmt.Sprintf(format, args...), maxEventMessage))
}
