package replication

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/testutil"
	"github.com/tandem-db/tandem/internal/wal"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

const dim = 4

func recordOf(epoch, lsn uint64, typ wal.RecordType, payload string) wal.Record {
	return wal.Record{Epoch: epoch, LSN: lsn, Type: typ, Payload: []byte(payload)}
}

// testCtx bounds a test's waits so a bug fails the test instead of hanging.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openEngine(t *testing.T, epoch uint64) *engine.Engine {
	t.Helper()
	return openEngineIn(t, t.TempDir(), epoch)
}

func openEngineIn(t *testing.T, dir string, epoch uint64) *engine.Engine {
	t.Helper()
	e, err := engine.Open(engine.Config{DataDir: dir, Epoch: epoch, Logger: quietLog, SegmentMaxRows: 64})
	if err != nil {
		t.Fatalf("engine.Open: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func createColl(t *testing.T, e *engine.Engine, name string) {
	t.Helper()
	s := &schemapb.CollectionSchema{Name: name, Fields: []*schemapb.FieldSchema{
		{Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: strconv.Itoa(dim)}}},
		{Name: "n", DataType: schemapb.DataType_Int64},
	}}
	if err := e.CreateCollection(context.Background(), "", s, engine.CreateCollectionOptions{}); err != nil {
		t.Fatalf("CreateCollection: %v", err)
	}
}

func rows(ids []int64, n int64) []*schemapb.FieldData {
	vecs := make([]float32, 0, len(ids)*dim)
	ns := make([]int64, len(ids))
	for i, id := range ids {
		for d := range dim {
			vecs = append(vecs, float32(id)+float32(d)/10+float32(n))
		}
		ns[i] = n
	}
	return []*schemapb.FieldData{
		{Type: schemapb.DataType_Int64, FieldName: "id", Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}},
		{Type: schemapb.DataType_FloatVector, FieldName: "vec", Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: dim, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: vecs}}}}},
		{Type: schemapb.DataType_Int64, FieldName: "n", Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ns}}}}},
	}
}

// write applies a deterministic mix of inserts, upserts and deletes:
// rounds [from, to).
func write(t *testing.T, e *engine.Engine, coll string, from, to int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < to; i++ {
		base := int64(i * 10)
		ids := []int64{base, base + 1, base + 2, base + 3}
		if _, err := e.Insert(ctx, "", coll, "", rows(ids, int64(i)), len(ids)); err != nil {
			t.Fatalf("Insert: %v", err)
		}
		if i%3 == 1 {
			if _, err := e.Upsert(ctx, "", coll, "", rows([]int64{base - 10, base}, int64(i+100)), 2); err != nil {
				t.Fatalf("Upsert: %v", err)
			}
		}
		if i%4 == 2 {
			if _, err := e.Delete(ctx, "", coll, "", "id in ["+strconv.FormatInt(base+1, 10)+"]"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
	}
}

// peerServer is a gRPC server on a loopback listener serving a Sender.
type peerServer struct {
	addr string
	gs   *grpc.Server
	done chan struct{}
}

func startServer(t testing.TB, s *Sender, addr string) *peerServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p := &peerServer{addr: lis.Addr().String(), gs: grpc.NewServer(), done: make(chan struct{})}
	s.Register(p.gs)
	go func() { defer close(p.done); _ = p.gs.Serve(lis) }()
	t.Cleanup(p.stop)
	return p
}

// stop closes the listener and every stream at once (a dead active).
func (p *peerServer) stop() {
	p.gs.Stop()
	<-p.done
}

func waitLSN(t *testing.T, e *engine.Engine, lsn uint64) {
	t.Helper()
	if _, err := e.WaitApplied(testCtx(t), lsn); err != nil {
		t.Fatalf("standby did not reach lsn %d (at %d): %v", lsn, e.LastLSN(), err)
	}
}

func digest(t *testing.T, e *engine.Engine) string {
	t.Helper()
	d, err := e.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	return d
}

func assertConverged(t *testing.T, active, standby *engine.Engine) {
	t.Helper()
	waitLSN(t, standby, active.LastLSN())
	if err := standby.WaitDurable(testCtx(t), standby.LastLSN()); err != nil {
		t.Fatal(err)
	}
	if a, s := active.LastLSN(), standby.LastLSN(); a != s {
		t.Fatalf("lsn: active %d, standby %d", a, s)
	}
	if a, s := digest(t, active), digest(t, standby); a != s {
		t.Fatalf("digests differ at lsn %d: active %s, standby %s", active.LastLSN(), a, s)
	}
}

// TestMain fails the package if its tests leave goroutines running
// (testutil.CheckLeaks; every Sender, Receiver and server is stopped by
// its test's cleanup).
func TestMain(m *testing.M) {
	os.Exit(testutil.CheckLeaks(m.Run()))
}
