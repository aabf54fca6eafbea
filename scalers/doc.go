// SPDX-License-Identifier: Apache-2.0

// Package scalers owns the contract between Ebb and its event sources.
//
// A trigger type (rabbitmq, kafka, prometheus, ...) is a Type: it validates a
// trigger's metadata without I/O and builds a Scaler from it. Types live one
// per sub-package and are wired explicitly into a Registry value by the
// operator's main; nothing registers itself.
//
// The package also holds what every Type shares:
//   - ParseMetadata, the one parser from trigger metadata to a typed config
//     struct, driven by `meta` struct tags; admission and Build run the same
//     code, so a typo fails at `kubectl apply` with the key's name;
//   - Pool, which shares one connection per (endpoint, credentials) among any
//     number of triggers, and Coalescer, which merges identical queries;
//   - AuthResolver, which resolves a trigger's TriggerAuthentication and the
//     target container's environment by GET (never a cluster-wide watch);
//   - Redact, which keeps credentials out of error text.
//
// Package scalertest holds the conformance suite every Type passes.
package scalers
