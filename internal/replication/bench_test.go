package replication

import (
	"context"
	"math/rand"
	"strconv"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/engine"
)

// BenchmarkSnapshotTransfer measures a snapshot sent to an empty standby
// over loopback gRPC and installed (files fsynced, checkpoint verified and
// loaded): 64k rows of 128-dim vectors, about 33 MB of segment files.
func BenchmarkSnapshotTransfer(b *testing.B) {
	ctx := context.Background()
	const bdim, n, batch = 128, 64 << 10, 4096
	cfg := engine.Config{DataDir: b.TempDir(), Logger: quietLog, SegmentMaxRows: 16 << 10}
	active, err := engine.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer active.Close()
	s := &schemapb.CollectionSchema{Name: "c", Fields: []*schemapb.FieldSchema{
		{Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: strconv.Itoa(bdim)}}},
	}}
	if err := active.CreateCollection(ctx, "", s, engine.CreateCollectionOptions{}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	for lo := 0; lo < n; lo += batch {
		ids := make([]int64, batch)
		vecs := make([]float32, batch*bdim)
		for i := range ids {
			ids[i] = int64(lo + i)
		}
		for i := range vecs {
			vecs[i] = r.Float32()
		}
		fields := []*schemapb.FieldData{
			{Type: schemapb.DataType_Int64, FieldName: "id", Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}},
			{Type: schemapb.DataType_FloatVector, FieldName: "vec", Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: bdim, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: vecs}}}}},
		}
		if _, err := active.Insert(ctx, "", "c", "", fields, batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := active.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	snd := NewSender(active, SenderOptions{Logger: quietLog})
	srv := startServer(b, snd, "")
	var total uint64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		standby, err := engine.Open(engine.Config{DataDir: b.TempDir(), Logger: quietLog})
		if err != nil {
			b.Fatal(err)
		}
		rc := NewReceiver(standby, ReceiverOptions{NodeID: "s", Logger: quietLog})
		b.StartTimer()
		rc.Follow(ctx, srv.addr, 0)
		st, err := rc.WaitStatus(ctx, func(st Status) bool { return st.Snapshots == 1 })
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		total = st.Snapshot.Total
		rc.Stop()
		standby.Close()
		b.StartTimer()
	}
	b.SetBytes(int64(total))
}
