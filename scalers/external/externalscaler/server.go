// SPDX-License-Identifier: Apache-2.0

// Package externalscaler serves the external scaler protocol, for Ebb's
// external and external-push triggers (and KEDA's): give New a function
// that reads your source for a trigger, and Serve answers IsActive,
// GetMetricSpec, GetMetrics and StreamIsActive with it.
//
// The server has one metric per trigger, named Options.MetricName, whose
// target (the value one replica handles) is Options.Target or, for a
// trigger that sets it, the number in the metadata key Options.TargetKey.
// A StreamIsActive stream reads the source every Options.StreamEvery and
// when Wake is called, and sends the trigger's activation when it changes,
// and each time a Wake finds it active.
package externalscaler

import (
	"context"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ebbscale/ebb/scalers/external/externalscalerpb"
)

// Ref is the trigger a request is about: its scaled object and its
// metadata (the trigger's metadata as written, <key>FromEnv values
// resolved).
type Ref struct {
	Name, Namespace string
	Metadata        map[string]string
}

// Sample is the source's state for one trigger.
type Sample struct {
	// Value is the metric's current value (the work waiting, say).
	Value float64
	// Active says the trigger's target should run (leave zero replicas).
	Active bool
}

// ReadFunc reads the source for a trigger. It is called concurrently, for
// every request and by every stream; an error fails the request (with
// gRPC code Unavailable and the error's text, which Ebb does not show).
type ReadFunc func(ctx context.Context, ref Ref) (Sample, error)

// Options configure a Server; the zero value is usable.
type Options struct {
	// MetricName names the metric; "value" when empty.
	MetricName string
	// Target is the value one replica handles; 1 when 0.
	Target float64
	// TargetKey, when set, is a metadata key whose value, a number above
	// 0, is the target of the triggers that set it.
	TargetKey string
	// StreamEvery is how often a StreamIsActive stream reads the source;
	// 1 s when 0.
	StreamEvery time.Duration
}

// Server implements the ExternalScaler service over a ReadFunc.
type Server struct {
	pb.UnimplementedExternalScalerServer
	read ReadFunc
	opts Options

	mu   sync.Mutex
	gs   *grpc.Server
	wake chan struct{} // closed and replaced by Wake
}

var _ pb.ExternalScalerServer = (*Server)(nil)

// New returns a Server that answers with read.
func New(read ReadFunc, opts Options) *Server {
	if opts.MetricName == "" {
		opts.MetricName = "value"
	}
	if opts.Target <= 0 {
		opts.Target = 1
	}
	if opts.StreamEvery <= 0 {
		opts.StreamEvery = time.Second
	}
	return &Server{read: read, opts: opts, wake: make(chan struct{})}
}

// Register adds the service to a gRPC server of your own (for TLS, say).
func (s *Server) Register(r grpc.ServiceRegistrar) { pb.RegisterExternalScalerServer(r, s) }

// Serve serves the protocol on l with a gRPC server built from opts, until
// Stop. It returns nil after Stop.
func (s *Server) Serve(l net.Listener, opts ...grpc.ServerOption) error {
	gs := grpc.NewServer(opts...)
	s.Register(gs)
	s.mu.Lock()
	if s.gs != nil {
		s.mu.Unlock()
		return fmt.Errorf("externalscaler: Serve called twice")
	}
	s.gs = gs
	s.mu.Unlock()
	err := gs.Serve(l)
	if err == grpc.ErrServerStopped {
		return nil
	}
	return err
}

// Stop stops the server that Serve runs: it closes the listener and every
// connection and stream.
func (s *Server) Stop() {
	s.mu.Lock()
	gs := s.gs
	s.mu.Unlock()
	if gs != nil {
		gs.Stop()
	}
}

// Wake makes every stream read the source now (call it when an event
// arrives), rather than at its next StreamEvery tick.
func (s *Server) Wake() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) woken() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

func refOf(r *pb.ScaledObjectRef) Ref {
	return Ref{Name: r.GetName(), Namespace: r.GetNamespace(), Metadata: r.GetScalerMetadata()}
}

func (s *Server) sample(ctx context.Context, r *pb.ScaledObjectRef) (Sample, error) {
	smp, err := s.read(ctx, refOf(r))
	if err != nil {
		return Sample{}, status.Error(codes.Unavailable, err.Error())
	}
	return smp, nil
}

// IsActive reads the source and answers its activation.
func (s *Server) IsActive(ctx context.Context, r *pb.ScaledObjectRef) (*pb.IsActiveResponse, error) {
	smp, err := s.sample(ctx, r)
	if err != nil {
		return nil, err
	}
	return &pb.IsActiveResponse{Result: smp.Active}, nil
}

// GetMetricSpec answers the metric and its target, without reading the
// source.
func (s *Server) GetMetricSpec(_ context.Context, r *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, error) {
	t := s.opts.Target
	if raw, ok := r.GetScalerMetadata()[s.opts.TargetKey]; ok && s.opts.TargetKey != "" {
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return nil, status.Errorf(codes.InvalidArgument, "metadata key %q: expected a number above 0", s.opts.TargetKey)
		}
		t = v
	}
	spec := &pb.MetricSpec{MetricName: s.opts.MetricName, TargetSizeFloat: t}
	if t == math.Trunc(t) && t < 1<<53 {
		spec.TargetSize = int64(t) // for clients that read only the whole number
	}
	return &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{spec}}, nil
}

// GetMetrics reads the source and answers its value.
func (s *Server) GetMetrics(ctx context.Context, req *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	if req.GetMetricName() != s.opts.MetricName {
		return nil, status.Errorf(codes.NotFound, "no metric %q; this server has %q", req.GetMetricName(), s.opts.MetricName)
	}
	smp, err := s.sample(ctx, req.GetScaledObjectRef())
	if err != nil {
		return nil, err
	}
	mv := &pb.MetricValue{MetricName: s.opts.MetricName, MetricValueFloat: smp.Value}
	if v := math.Round(smp.Value); v >= 0 && v < 1<<53 {
		mv.MetricValue = int64(v) // for clients that read only the whole number
	}
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{mv}}, nil
}

// StreamIsActive reads the source every StreamEvery and on Wake, and sends
// the activation when it changed (the first read always sends), and on a
// Wake that finds it active. A failed read sends nothing; the stream goes
// on.
func (s *Server) StreamIsActive(r *pb.ScaledObjectRef, stream pb.ExternalScaler_StreamIsActiveServer) error {
	ctx := stream.Context()
	ticker := time.NewTicker(s.opts.StreamEvery)
	defer ticker.Stop()
	sent, last, woken := false, false, false
	for {
		wake := s.woken()
		if smp, err := s.read(ctx, refOf(r)); err == nil && (!sent || smp.Active != last || (woken && smp.Active)) {
			if err := stream.Send(&pb.IsActiveResponse{Result: smp.Active}); err != nil {
				return err
			}
			sent, last = true, smp.Active
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			woken = false
		case <-wake:
			woken = true
		}
	}
}
