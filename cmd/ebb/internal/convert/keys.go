// SPDX-License-Identifier: Apache-2.0

package convert

import (
	"strings"

	"github.com/ebbscale/ebb/scalers"
)

// keySource says where a scaler's metadata key may come from, as its `meta`
// tag's from= option says (scalers.ParseMetadata).
type keySource struct {
	metadata, env, auth bool
}

// triggerKeys reads the metadata keys of a trigger type from the `meta` tags
// of its config struct.
func triggerKeys(t scalers.Type) map[string]keySource {
	keys := map[string]keySource{}
	infos, err := scalers.Keys(t.Config())
	if err != nil { // a registered type's tags are checked by its tests
		return keys
	}
	for _, k := range infos {
		keys[k.Key] = keySource{metadata: k.FromMetadata, env: k.FromEnv, auth: k.FromAuth}
	}
	return keys
}

// keyHints explain KEDA keys that Ebb's scalers do not take, beyond "not a
// key".
var keyHints = map[string]string{
	"metricName":  "KEDA's deprecated metric name; Ebb names each trigger's metric itself",
	"cortexOrgID": "removed from KEDA; use customHeaders: X-Scope-OrgID=<org>",
	"awsRegion":   "a key of AWS MSK IAM authentication (sasl aws_msk_iam), which Ebb's kafka trigger does not have",
	"awsEndpoint": "a key of AWS MSK IAM authentication (sasl aws_msk_iam), which Ebb's kafka trigger does not have",
}

// openMetadata is implemented by trigger types that pass the metadata keys
// they do not read to the server they read (external, external-push): such
// keys are the server's, kept as KEDA keeps them.
type openMetadata interface{ OpenMetadata() bool }

// filterMetadata keeps the keys Ebb's scaler of this type accepts in
// metadata and reports the others. Values are never shown.
func (o *objctx) filterMetadata(field, typ string, st scalers.Type, md map[string]string) map[string]string {
	keys := triggerKeys(st)
	open, _ := st.(openMetadata)
	if md == nil {
		return nil
	}
	out := make(map[string]string, len(md))
	for _, k := range sortedKeys(md) {
		f := field + "." + k
		src, isKey := keys[k]
		base, fromEnv := strings.CutSuffix(k, "FromEnv")
		baseSrc, isBase := keys[base]
		switch {
		case isKey && src.metadata:
			out[k] = md[k]
		case isKey:
			o.report(Dropped, f, "Ebb's %s trigger reads %s only from a TriggerAuthentication (secretTargetRef, configMapTargetRef or env with parameter %s): left out; move the value there", typ, k, k)
		case fromEnv && isBase && baseSrc.env:
			out[k] = md[k]
		case open != nil && open.OpenMetadata() && !isBase:
			out[k] = md[k] // the server's key (or <key>FromEnv), sent to it as in KEDA
		case fromEnv && isBase:
			o.report(Dropped, f, "Ebb's %s trigger does not read %s from the container's environment; map it in a TriggerAuthentication env entry with parameter %s: left out", typ, base, base)
		default:
			hint := keyHints[k]
			if hint == "" {
				hint = "not a key of Ebb's " + typ + " trigger (docs/scalers/" + typ + ".md)"
			}
			o.report(Dropped, f, "%s: left out", hint)
		}
	}
	return out
}
