// SPDX-License-Identifier: Apache-2.0

// Package chartrbac makes a test's operator (and interceptor) act as the
// Helm chart installs it: it renders deploy/helm/ebb with the test's
// operator namespace as the release namespace, applies the chart's
// ServiceAccounts, ClusterRoles, Roles and bindings to the test's control
// plane, and returns a client configuration (and a kubeconfig file, for child
// processes) that acts as the chart's ServiceAccount. The API server's RBAC
// authorizer then decides every request the operator makes, so a permission
// the chart lacks fails a test instead of a user's install.
//
// The identity is impersonated from the control plane's administrator: the
// user system:serviceaccount:<namespace>:<name> in the groups
// system:serviceaccounts, system:serviceaccounts:<namespace> and
// system:authenticated, as a pod's token would authenticate. Every identity
// is checked to be refused something the chart does not grant (listing
// Secrets), which proves the API server authorizes with RBAC.
//
// ClusterRoles, ClusterRoleBindings and the Roles and RoleBindings outside
// the release namespace have names shared by the whole cluster; they are
// renamed with the release namespace as a suffix, so several tests on one
// control plane, each with its own operator namespace, do not clash.
// Applying again for the same namespace is idempotent (server-side apply);
// the objects stay until the control plane stops.
//
// The Helm engine is test code: no binary imports this package.
package chartrbac
