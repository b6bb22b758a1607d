package milvus

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/metrics"
)

// methodOutputs maps a MilvusService full method name
// ("/milvus.proto.milvus.MilvusService/Search") to its response type.
var methodOutputs = buildMethodOutputs()

func buildMethodOutputs() map[string]protoreflect.MessageType {
	out := make(map[string]protoreflect.MessageType)
	sd := milvuspb.File_milvus_proto.Services().ByName("MilvusService")
	if sd == nil {
		return out
	}
	for i := 0; i < sd.Methods().Len(); i++ {
		md := sd.Methods().Get(i)
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
		if err != nil {
			continue
		}
		out["/"+string(sd.FullName())+"/"+string(md.Name())] = mt
	}
	return out
}

var statusFullName = (&commonpb.Status{}).ProtoReflect().Descriptor().FullName()

// statusResponse builds the response message of fullMethod carrying st:
// st itself for methods that return a commonpb.Status, otherwise the
// method's response with its "status" field set. ok is false when the
// method is unknown or its response has no status field.
func statusResponse(fullMethod string, st *commonpb.Status) (resp proto.Message, ok bool) {
	mt, found := methodOutputs[fullMethod]
	if !found {
		return nil, false
	}
	if mt.Descriptor().FullName() == statusFullName {
		return st, true
	}
	fd := mt.Descriptor().Fields().ByName("status")
	if fd == nil || fd.Kind() != protoreflect.MessageKind || fd.Message().FullName() != statusFullName {
		return nil, false
	}
	m := mt.New()
	m.Set(fd, protoreflect.ValueOfMessage(st.ProtoReflect()))
	return m.Interface(), true
}

// shortMethod turns "/pkg.Service/Method" into "Method".
func shortMethod(fullMethod string) string {
	if i := strings.LastIndexByte(fullMethod, '/'); i >= 0 {
		return fullMethod[i+1:]
	}
	return fullMethod
}

// unimplementedInterceptor answers RPCs the server does not implement with
// a Milvus "service unimplemented" status (code 10) in the method's own
// response type, instead of a bare gRPC Unimplemented error.
func unimplementedInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err == nil || status.Code(err) != codes.Unimplemented {
		return resp, err
	}
	st := merr.Status(merr.Wrapf(merr.ErrServiceUnimplemented, "%s is not supported by Tandem", shortMethod(info.FullMethod)))
	if r, ok := statusResponse(info.FullMethod, st); ok {
		return r, nil
	}
	// The few responses without a status field (Dummy, GetReplicateInfo)
	// get a gRPC Unimplemented error with the same wording.
	return nil, status.Error(codes.Unimplemented, st.GetReason())
}

// roleExempt lists the methods served whatever Options.RoleGate says:
// the handshake and health checks.
var roleExempt = map[string]bool{
	"Connect": true, "GetVersion": true, "CheckHealth": true, "GetComponentStates": true,
}

// roleInterceptor asks Options.RoleGate before every other method and
// answers a refusal with a Milvus status in the method's response type.
func (s *Server) roleInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	g := s.opts.RoleGate
	if g == nil || roleExempt[shortMethod(info.FullMethod)] {
		return handler(ctx, req)
	}
	if err := g.ServeClient(); err != nil {
		st := merr.Status(err)
		if r, ok := statusResponse(info.FullMethod, st); ok {
			return r, nil
		}
		return nil, status.Error(codes.Unavailable, st.GetReason())
	}
	return handler(ctx, req)
}

// recoverInterceptor turns a panic in a handler into a Milvus internal
// error status and logs the stack.
func (s *Server) recoverInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("milvus api: panic in handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			st := merr.Status(merr.Wrapf(merr.ErrServiceInternal, "panic in %s: %v", shortMethod(info.FullMethod), r))
			if m, ok := statusResponse(info.FullMethod, st); ok {
				resp, err = m, nil
				return
			}
			resp, err = nil, status.Errorf(codes.Internal, "panic in %s: %v", info.FullMethod, r)
		}
	}()
	return handler(ctx, req)
}

// metricsInterceptor records request counts by Milvus status code and
// latencies.
func (s *Server) metricsInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	method := shortMethod(info.FullMethod)
	metrics.RequestSeconds.WithLabelValues(method).Observe(time.Since(start).Seconds())
	metrics.Requests.WithLabelValues(method, strconv.Itoa(int(responseCode(resp, err)))).Inc()
	return resp, err
}

// responseCode is the Milvus code of a handler's outcome.
func responseCode(resp any, err error) int32 {
	if err != nil {
		return merr.Code(err)
	}
	switch r := resp.(type) {
	case *commonpb.Status:
		return r.GetCode()
	case interface{ GetStatus() *commonpb.Status }:
		return r.GetStatus().GetCode()
	}
	return 0
}
