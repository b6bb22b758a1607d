package engine

import (
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// vecSchema is a minimal collection: Int64 pk "id" and FloatVector "vec".
func vecSchema(name string, dim int) *schemapb.CollectionSchema {
	return &schemapb.CollectionSchema{Name: name, Fields: []*schemapb.FieldSchema{
		{Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{kv("dim", fmt.Sprint(dim))}},
	}}
}

func vecBatch(r *rand.Rand, first, n, dim int) []*schemapb.FieldData {
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = r.Float32()
	}
	return []*schemapb.FieldData{longField("id", seq(first, n)), vecField("vec", dim, v)}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMemoryOverhead: a loaded FLAT collection of 768-d vectors uses at
// most 1.2x its raw vector bytes, both while growing/sealed in memory and
// after recovery from segment files.
func TestMemoryOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	const dim, n, per = 768, 12000, 1000
	dir := t.TempDir()
	raw := float64(n * dim * 4)
	base := heapInUse()
	e := openTest(t, dir, func(c *Config) { c.SegmentMaxRows = 0; c.Sync = SyncInterval })
	if err := e.CreateCollection(bg, "", vecSchema("m", dim), CreateCollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < n; i += per {
		if _, err := e.Insert(bg, "", "m", "", vecBatch(r, i, per, dim), per); err != nil {
			t.Fatal(err)
		}
	}
	ratio := float64(heapInUse()-base) / raw
	t.Logf("in memory: heap/raw vector bytes = %.3f", ratio)
	if ratio > 1.2 {
		t.Errorf("memory ratio %.3f > 1.2", ratio)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = nil
	base = heapInUse()
	e = openTest(t, dir, nil)
	defer e.Close()
	ratio = float64(heapInUse()-base) / raw
	t.Logf("after recovery: heap/raw vector bytes = %.3f", ratio)
	if ratio > 1.2 {
		t.Errorf("memory ratio after recovery %.3f > 1.2", ratio)
	}
}

// BenchmarkInsert768 inserts 1000 rows x 768-d per call with fsync on;
// throughput is vector MB/s.
func BenchmarkInsert768(b *testing.B) {
	benchInsert(b, SyncFsync)
}

// BenchmarkInsert768Interval is BenchmarkInsert768 without waiting for
// fsync (SyncInterval): the engine's CPU cost per insert.
func BenchmarkInsert768Interval(b *testing.B) {
	benchInsert(b, SyncInterval)
}

func benchInsert(b *testing.B, mode SyncMode) {
	const dim, per = 768, 1000
	for _, clients := range []int{1, 2} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			e := openTest(b, b.TempDir(), func(c *Config) { c.SegmentMaxRows = 0; c.Sync = mode })
			defer e.Close()
			if err := e.CreateCollection(bg, "", vecSchema("ins", dim), CreateCollectionOptions{}); err != nil {
				b.Fatal(err)
			}
			// Pre-generate a few batches per client; keys differ per call.
			r := rand.New(rand.NewSource(1))
			batches := make([][]*schemapb.FieldData, clients)
			for c := range batches {
				batches[c] = vecBatch(r, 0, per, dim)
			}
			b.SetBytes(per * dim * 4)
			b.ResetTimer()
			var wg sync.WaitGroup
			var mu sync.Mutex
			next := 0
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					fds := batches[c]
					ids := fds[0].GetScalars().GetLongData().GetData()
					for {
						mu.Lock()
						i := next
						next++
						mu.Unlock()
						if i >= b.N {
							return
						}
						for j := range ids {
							ids[j] = int64(i*per + j)
						}
						if _, err := e.Insert(bg, "", "ins", "", fds, per); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkSearchFlat: nq=1, top-10, L2 over 60k x 784 random vectors.
func BenchmarkSearchFlat(b *testing.B) {
	const dim, n, per = 784, 60000, 2000
	e := openTest(b, b.TempDir(), func(c *Config) { c.SegmentMaxRows = 0; c.Sync = SyncInterval })
	defer e.Close()
	if err := e.CreateCollection(bg, "", vecSchema("sf", dim), CreateCollectionOptions{}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < n; i += per {
		if _, err := e.Insert(bg, "", "sf", "", vecBatch(r, i, per, dim), per); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.CreateIndex(bg, "", "sf", "vec", "", map[string]string{"index_type": "FLAT", "metric_type": "L2"}); err != nil {
		b.Fatal(err)
	}
	if err := e.LoadCollection(bg, "", "sf"); err != nil {
		b.Fatal(err)
	}
	qs := make([][]float32, 64)
	for i := range qs {
		qs[i] = make([]float32, dim)
		for j := range qs[i] {
			qs[i][j] = r.Float32()
		}
	}
	req := &SearchRequest{Collection: "sf", TopK: 10, RoundDecimal: -1}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.Vectors = qs[i%len(qs) : i%len(qs)+1]
		if _, err := e.Search(bg, req); err != nil {
			b.Fatal(err)
		}
	}
}
