// SPDX-License-Identifier: Apache-2.0

package external

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/external/externalscaler"
	pb "github.com/ebbscale/ebb/scalers/external/externalscalerpb"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// A client key that does not parse, given in a Bad trigger's
// TriggerAuthentication: the suite checks it never reaches an error.
const conformanceKey = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWNvbmZvcm1hbmNlLWtleQ==\n-----END PRIVATE KEY-----\n"

// closedType is the Type as the conformance suite wants every Type: one
// that refuses a metadata key nobody reads. An external trigger's metadata
// is open (a key Ebb does not read is the server's, sent to it in
// scalerMetadata; TestKeysEbbDoesNotReadGoToTheServer), so the test names
// the keys its server reads, and the wrapper refuses the others before the
// real Type sees the trigger. Everything else the suite checks runs on the
// real Type.
type closedType struct {
	*Type
	serverKeys map[string]bool
}

func (c closedType) check(tr scalers.Trigger) error {
	for k := range tr.Metadata {
		if !configKeys[strings.TrimSuffix(k, "FromEnv")] && !c.serverKeys[k] {
			return &scalers.FieldError{Trigger: tr.String(), Key: k, Msg: "is read by neither Ebb nor the test's server"}
		}
	}
	return nil
}

func (c closedType) Validate(tr scalers.Trigger) error {
	if err := c.check(tr); err != nil {
		return err
	}
	return c.Type.Validate(tr)
}

func (c closedType) New(tr scalers.Trigger) (scalers.Scaler, error) {
	if err := c.check(tr); err != nil {
		return nil, err
	}
	return c.Type.New(tr)
}

func TestConformance(t *testing.T) {
	for _, push := range []bool{false, true} {
		name := map[bool]string{false: "external", true: "external-push"}[push]
		t.Run(name, func(t *testing.T) {
			src := &source{}
			src.set(7, true)
			srv := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{Target: 2, TargetKey: "perReplica"}, nil)
			pick := func(e *scalers.Egress) *Type {
				ext, p := NewTypesWithEgress(e)
				if push {
					return p
				}
				return ext
			}
			typ := pick(scalers.DefaultEgress())
			closed := func(t *Type) scalers.Type {
				return closedType{Type: t, serverKeys: map[string]bool{"perReplica": true}}
			}
			valid := map[string]string{"scalerAddress": srv.addr, "perReplica": "2"}
			at := func(addr string) scalers.Trigger {
				return trigger(name, scalertest.With(valid, "scalerAddress", addr), nil)
			}
			bad := func(what, key string, md map[string]string, auth map[string]string) scalertest.BadMetadata {
				return scalertest.BadMetadata{Name: what, Trigger: trigger(name, md, auth), Key: key}
			}
			scalertest.Run(t, scalertest.Suite{
				Type:        closed(typ),
				Valid:       trigger(name, valid, nil),
				Unreachable: at(scalertest.FreeAddr(t)),
				Bad: []scalertest.BadMetadata{
					bad("a missing scalerAddress", "scalerAddress", scalertest.With(valid, "scalerAddress", ""), nil),
					bad("a scalerAddress without a port", "scalerAddress", scalertest.With(valid, "scalerAddress", "scaler.shop.svc"), nil),
					bad("a scalerAddress that is a URL", "scalerAddress", scalertest.With(valid, "scalerAddress", "http://scaler.shop.svc:6000"), nil),
					bad("a scalerAddress with port 0", "scalerAddress", scalertest.With(valid, "scalerAddress", "scaler:0"), nil),
					bad("an enableTLS that is not a boolean", "enableTLS", scalertest.With(valid, "enableTLS", "yes"), nil),
					bad("an unsafeSsl that is not a boolean", "unsafeSsl", scalertest.With(valid, "unsafeSsl", "maybe"), nil),
					bad("a timeout that is not a duration", "timeout", scalertest.With(valid, "timeout", "soon"), nil),
					bad("a timeout of zero", "timeout", scalertest.With(valid, "timeout", "0"), nil),
					bad("a negative timeout", "timeout", scalertest.With(valid, "timeout", "-2s"), nil),
					bad("a timeout over an hour", "timeout", scalertest.With(valid, "timeout", "3600001"), nil),
					bad("a caCert in metadata", "caCert", scalertest.With(valid, "caCert", "/etc/ca.pem"), nil),
					bad("a tlsClientKey from the environment", "tlsClientKey", scalertest.With(valid, "tlsClientKeyFromEnv", "KEY"), nil),
					bad("KEDA's deprecated tlsCertFile", "tlsCertFile", scalertest.With(valid, "tlsCertFile", "/etc/cert.pem"), nil),
					bad("a caCert that is not PEM", "caCert", valid, map[string]string{"caCert": "not a certificate"}),
					bad("a client key without its certificate", "tlsClientCert", valid, map[string]string{"tlsClientKey": conformanceKey}),
					bad("a client certificate and key that are not a pair", "tlsClientCert", valid, map[string]string{"tlsClientCert": "x", "tlsClientKey": conformanceKey}),
				},
				Secrets:    []string{conformanceKey, "c2VjcmV0LWNvbmZvcm1hbmNlLWtleQ"},
				Open:       typ.OpenConnections,
				WithEgress: func(e *scalers.Egress) scalers.Type { return closed(pick(e)) },
				At:         at,
				Hostile:    hostile,
			})
		})
	}
}

// hostile are gRPC servers that put scalertest.Marker in all they say.
var hostile = []scalertest.HostileReply{
	{Name: "every call fails with a marked status message and trailer", Serve: grpcOn(failing{})},
	{Name: "marked metric names with a target of zero", Serve: grpcOn(&odd{specs: []*pb.MetricSpec{{MetricName: scalertest.Marker}}})},
	{Name: "a marked metric with a negative value", Serve: grpcOn(&odd{
		specs:  []*pb.MetricSpec{{MetricName: scalertest.Marker, TargetSize: 1}},
		values: []*pb.MetricValue{{MetricName: scalertest.Marker, MetricValue: -5}}})},
	{Name: "a metric with an infinite value", Serve: grpcOn(&odd{
		specs:  []*pb.MetricSpec{{MetricName: scalertest.Marker, TargetSize: 1}},
		values: []*pb.MetricValue{{MetricName: scalertest.Marker, MetricValueFloat: 1e308}, {MetricValueFloat: 1e308}}})},
	{Name: "a reply past the size bound", Serve: grpcOn(&odd{
		specs: []*pb.MetricSpec{{MetricName: strings.Repeat(scalertest.Marker, maxReply/len(scalertest.Marker)+1), TargetSize: 1}}})},
	{Name: "more metric specs than the bound", Serve: grpcOn(&odd{specs: manySpecs(maxSpecs + 1)})},
	{Name: "more metric values than the bound", Serve: grpcOn(&odd{
		specs:  []*pb.MetricSpec{{MetricName: "m", TargetSize: 1}},
		values: make([]*pb.MetricValue, maxValues+1)})},
}

func manySpecs(n int) []*pb.MetricSpec {
	out := make([]*pb.MetricSpec, n)
	for i := range out {
		out[i] = &pb.MetricSpec{MetricName: scalertest.Marker, TargetSize: 1}
	}
	return out
}

// failing answers every call with a marked error.
type failing struct {
	pb.UnimplementedExternalScalerServer
}

func (failing) fail(ctx context.Context) error {
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-reason", scalertest.Marker))
	return status.Error(codes.FailedPrecondition, scalertest.Marker+" "+scalertest.Marker)
}

func (f failing) IsActive(ctx context.Context, _ *pb.ScaledObjectRef) (*pb.IsActiveResponse, error) {
	return nil, f.fail(ctx)
}

func (f failing) GetMetricSpec(ctx context.Context, _ *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, error) {
	return nil, f.fail(ctx)
}

func (f failing) GetMetrics(ctx context.Context, _ *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	return nil, f.fail(ctx)
}

// odd answers fixed specs and values, and active.
type odd struct {
	pb.UnimplementedExternalScalerServer
	specs  []*pb.MetricSpec
	values []*pb.MetricValue
}

func (o *odd) IsActive(context.Context, *pb.ScaledObjectRef) (*pb.IsActiveResponse, error) {
	return &pb.IsActiveResponse{Result: true}, nil
}

func (o *odd) GetMetricSpec(context.Context, *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, error) {
	return &pb.GetMetricSpecResponse{MetricSpecs: o.specs}, nil
}

func (o *odd) GetMetrics(context.Context, *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	return &pb.GetMetricsResponse{MetricValues: o.values}, nil
}
