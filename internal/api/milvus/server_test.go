package milvus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/metrics"
)

// testServer is a Server serving on a loopback listener.
type testServer struct {
	*Server
	addr string
	eng  *engine.Engine
	done chan error
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer opens an engine in a temp dir and serves it on loopback.
func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.ServerVersion == "" {
		opts.ServerVersion = "test-1.2.3"
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: NewServer(eng, opts), addr: lis.Addr().String(), eng: eng, done: make(chan error, 1)}
	go func() { ts.done <- ts.Serve(lis) }()
	t.Cleanup(func() {
		ts.Stop()
		<-ts.done
		eng.Close()
	})
	return ts
}

// grpcClient dials the test server with a raw MilvusService client.
func (ts *testServer) grpcClient(t *testing.T) milvuspb.MilvusServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30), grpc.MaxCallSendMsgSize(1<<30)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return milvuspb.NewMilvusServiceClient(conn)
}

// restEnvelope is the decoded Milvus REST envelope.
type restEnvelope struct {
	Code    int32           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Topks   []int64         `json:"topks"`
}

// post sends a REST request and decodes the envelope.
func (ts *testServer) post(t *testing.T, path string, body any) restEnvelope {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	resp, err := http.Post("http://"+ts.addr+path, "application/json", rd)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d", path, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("POST %s: content type %q", path, ct)
	}
	var env restEnvelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return env
}

func TestGRPCAndRESTShareOnePort(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.grpcClient(t)
	ctx := context.Background()

	v, err := c.GetVersion(ctx, &milvuspb.GetVersionRequest{})
	if err != nil || v.GetVersion() != MilvusVersion {
		t.Fatalf("GetVersion: %v %v", v, err)
	}
	cr, err := c.Connect(ctx, &milvuspb.ConnectRequest{ClientInfo: &commonpb.ClientInfo{SdkType: "test"}})
	if err != nil || cr.GetIdentifier() == 0 || cr.GetServerInfo().GetBuildTags() != MilvusVersion ||
		cr.GetServerInfo().GetReserved()["tandem_version"] != "test-1.2.3" {
		t.Fatalf("Connect: %v %v", cr, err)
	}
	cr2, err := c.Connect(ctx, &milvuspb.ConnectRequest{})
	if err != nil || cr2.GetIdentifier() == cr.GetIdentifier() {
		t.Fatalf("Connect identifiers not unique: %v %v", cr2, err)
	}
	h, err := c.CheckHealth(ctx, &milvuspb.CheckHealthRequest{})
	if err != nil || !h.GetIsHealthy() {
		t.Fatalf("CheckHealth: %v %v", h, err)
	}
	t1, _ := c.AllocTimestamp(ctx, &milvuspb.AllocTimestampRequest{})
	t2, _ := c.AllocTimestamp(ctx, &milvuspb.AllocTimestampRequest{})
	if t2.GetTimestamp() <= t1.GetTimestamp() || t1.GetTimestamp()>>logicalBits < uint64(time.Now().Add(-time.Hour).UnixMilli()) {
		t.Fatalf("timestamps %d %d", t1.GetTimestamp(), t2.GetTimestamp())
	}
	dbs, err := c.ListDatabases(ctx, &milvuspb.ListDatabasesRequest{})
	if err != nil || len(dbs.GetDbNames()) != 1 || dbs.GetDbNames()[0] != "default" {
		t.Fatalf("ListDatabases: %v %v", dbs, err)
	}

	// REST on the same port: an envelope comes back whatever the engine says.
	env := ts.post(t, "/v2/vectordb/collections/list", `{}`)
	if env.Code != 0 && env.Message == "" {
		t.Fatalf("REST envelope without message: %+v", env)
	}
	// Malformed JSON is code 1801.
	if env := ts.post(t, "/v2/vectordb/collections/has", `{"collectionName": `); env.Code != 1801 {
		t.Fatalf("malformed JSON: %+v", env)
	}
	// Missing collectionName is code 1802.
	if env := ts.post(t, "/v2/vectordb/collections/describe", `{}`); env.Code != 1802 {
		t.Fatalf("missing collectionName: %+v", env)
	}
	if got := counterValue(t, "rest:/v2/vectordb/collections/has", "1801"); got < 1 {
		t.Fatalf("REST request not counted: %v", got)
	}
	// Unknown paths answer with JSON too.
	resp, err := http.Get("http://" + ts.addr + "/v2/vectordb/collections/list")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET on a POST endpoint: HTTP %d", resp.StatusCode)
	}
	// gRPC still works after the HTTP traffic.
	if _, err := c.GetVersion(ctx, &milvuspb.GetVersionRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestUnimplementedRPCs(t *testing.T) {
	ts := startServer(t, Options{})
	c := ts.grpcClient(t)
	ctx := context.Background()

	st, err := c.CreateResourceGroup(ctx, &milvuspb.CreateResourceGroupRequest{ResourceGroup: "rg"})
	if err != nil {
		t.Fatalf("CreateResourceGroup: gRPC error %v, want a Milvus status", err)
	}
	if st.GetCode() != merr.ErrServiceUnimplemented.Code || !strings.Contains(st.GetReason(), "CreateResourceGroup") {
		t.Fatalf("CreateResourceGroup status %v", st)
	}
	la, err := c.ListResourceGroups(ctx, &milvuspb.ListResourceGroupsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if la.GetStatus().GetCode() != 10 || !strings.Contains(la.GetStatus().GetReason(), "ListResourceGroups") {
		t.Fatalf("ListResourceGroups status %v", la.GetStatus())
	}
	hs, err := c.HybridSearch(ctx, &milvuspb.HybridSearchRequest{CollectionName: "c"})
	if err != nil || hs.GetStatus().GetCode() != merr.ErrParameterInvalid.Code {
		t.Fatalf("HybridSearch: %v %v", hs, err)
	}
	_, err = c.GetReplicateInfo(ctx, &milvuspb.GetReplicateInfoRequest{})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "GetReplicateInfo is not supported") {
		t.Fatalf("GetReplicateInfo: %v", err)
	}
	m, err := c.GetMetrics(ctx, &milvuspb.GetMetricsRequest{})
	if err != nil || m.GetStatus().GetReason() != "metric_type or req_type not found in request" {
		t.Fatalf("GetMetrics: %v %v", m, err)
	}
	m, err = c.GetMetrics(ctx, &milvuspb.GetMetricsRequest{Request: `{"metric_type":"system_info"}`})
	if err != nil || m.GetStatus().GetCode() != 0 || !json.Valid([]byte(m.GetResponse())) || !strings.Contains(m.GetResponse(), `"nodes_info"`) {
		t.Fatalf("GetMetrics(system_info): %v %v", m, err)
	}
	m, err = c.GetMetrics(ctx, &milvuspb.GetMetricsRequest{Request: `{"metric_type":"nope"}`})
	if err != nil || m.GetStatus().GetReason() != "sorry, but this metric type is not implemented" {
		t.Fatalf("GetMetrics(nope): %v %v", m, err)
	}
	// The request was counted under its method and Milvus code.
	if got := counterValue(t, "ListResourceGroups", "10"); got < 1 {
		t.Fatalf("requests_total{ListResourceGroups,10} = %v", got)
	}
}

func counterValue(t *testing.T, method, code string) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.Requests.WithLabelValues(method, code).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// noStatusMethods are the MilvusService methods whose response has no
// status field.
var noStatusMethods = map[string]bool{"Dummy": true, "GetReplicateInfo": true}

func TestStatusResponseCoversEveryUnaryMethod(t *testing.T) {
	if len(methodOutputs) < 50 {
		t.Fatalf("only %d MilvusService methods found", len(methodOutputs))
	}
	for _, md := range milvuspb.MilvusService_ServiceDesc.Methods {
		full := "/" + milvuspb.MilvusService_ServiceDesc.ServiceName + "/" + md.MethodName
		resp, ok := statusResponse(full, merr.Status(merr.ErrServiceUnimplemented))
		if !ok {
			if !noStatusMethods[md.MethodName] {
				t.Errorf("%s: no status response", md.MethodName)
			}
			continue
		}
		if responseCode(resp, nil) != 10 {
			t.Errorf("%s: code %d", md.MethodName, responseCode(resp, nil))
		}
	}
	if _, ok := statusResponse("/nope/Nope", successStatus()); ok {
		t.Fatal("unknown method answered")
	}
}

func TestRecoverInterceptor(t *testing.T) {
	s := NewServer(&engine.Engine{}, Options{Logger: quietLogger()})
	info := &grpc.UnaryServerInfo{FullMethod: "/milvus.proto.milvus.MilvusService/Search"}
	resp, err := s.recoverInterceptor(context.Background(), &milvuspb.SearchRequest{}, info, func(ctx context.Context, req any) (any, error) {
		panic("boom")
	})
	if err != nil {
		t.Fatal(err)
	}
	sr, isSearch := resp.(*milvuspb.SearchResults)
	if !isSearch || sr.GetStatus().GetCode() != merr.ErrServiceInternal.Code || !strings.Contains(sr.GetStatus().GetReason(), "boom") {
		t.Fatalf("resp %v", resp)
	}
	info.FullMethod = "/milvus.proto.milvus.MilvusService/DropCollection"
	resp, err = s.recoverInterceptor(context.Background(), nil, info, func(ctx context.Context, req any) (any, error) {
		var m map[string]int
		m["x"] = 1 // nil map write
		return nil, nil
	})
	if st, isStatus := resp.(*commonpb.Status); err != nil || !isStatus || st.GetCode() != 5 {
		t.Fatalf("resp %v err %v", resp, err)
	}
}

func TestOversizedRequests(t *testing.T) {
	ts := startServer(t, Options{MaxRecvMsgBytes: 4096})
	c := ts.grpcClient(t)
	ctx := context.Background()
	big := make([]float32, 4096)
	_, err := c.Insert(ctx, &milvuspb.InsertRequest{CollectionName: "c", NumRows: 1, FieldsData: []*schemapb.FieldData{{
		FieldName: "v", Type: schemapb.DataType_FloatVector,
		Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: 4096, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: big}}}},
	}}})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("oversized gRPC insert: %v", err)
	}
	env := ts.post(t, "/v2/vectordb/entities/insert", `{"collectionName":"c","data":[{"v":"`+strings.Repeat("x", 8192)+`"}]}`)
	if env.Code != merr.ErrParameterTooLarge.Code {
		t.Fatalf("oversized REST insert: %+v", env)
	}
	if _, err := c.GetVersion(ctx, &milvuspb.GetVersionRequest{}); err != nil {
		t.Fatalf("server unusable after oversized requests: %v", err)
	}
}

func TestGracefulStop(t *testing.T) {
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	s := NewServer(eng, Options{Logger: quietLogger()})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	ts := &testServer{Server: s, addr: lis.Addr().String()}
	if _, err := ts.grpcClient(t).GetVersion(context.Background(), &milvuspb.GetVersionRequest{}); err != nil {
		t.Fatal(err)
	}
	s.GracefulStop()
	if err := <-done; err != nil {
		t.Fatalf("Serve after GracefulStop: %v", err)
	}
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Fatal("listener still open")
	}
	// Serve on a stopped server returns at once.
	lis2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(lis2); err != nil {
		t.Fatal(err)
	}
}

func TestServeReturnsListenerError(t *testing.T) {
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	s := NewServer(eng, Options{Logger: quietLogger()})
	defer s.Stop()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis.Close()
	if err := s.Serve(lis); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve on closed listener: %v", err)
	}
}

func TestStopClosesSilentConnections(t *testing.T) {
	ts := startServer(t, Options{})
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ts.Stop()
	// The sniff timeout is 10 s; Stop must not wait for it.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("silent connection still open after Stop: %v", err)
	}
}
