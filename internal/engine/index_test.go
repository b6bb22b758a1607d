package engine

import (
	"bytes"
	"context"
	"fmt"
	"github.com/tandem-db/tandem/internal/index/flat"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/merr"
)

// annSchema: Int64 pk "id", FloatVector "vec", Int64 "grp" (= id % 10).
func annSchema(name string, dim int) *schemapb.CollectionSchema {
	return &schemapb.CollectionSchema{Name: name, Fields: []*schemapb.FieldSchema{
		{Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{kv("dim", fmt.Sprint(dim))}},
		{Name: "grp", DataType: schemapb.DataType_Int64},
	}}
}

// clustered returns n seeded vectors of dim around nc uniform centres,
// with Gaussian noise of deviation sigma.
func clustered(r *rand.Rand, n, dim, nc int, sigma float64) []float32 {
	centres := make([]float32, nc*dim)
	for i := range centres {
		centres[i] = r.Float32()
	}
	out := make([]float32, n*dim)
	for i := range n {
		c := r.Intn(nc)
		for d := range dim {
			out[i*dim+d] = centres[c*dim+d] + float32(r.NormFloat64()*sigma)
		}
	}
	return out
}

// annFixture is a collection "a" with rows id 0..n-1 whose vectors are
// vecs[id*dim:], in sealed segments of segMax rows plus a growing tail.
type annFixture struct {
	e    *Engine
	dir  string
	dim  int
	vecs []float32
	log  *syncBuf
}

// syncBuf is a goroutine-safe log sink.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const annSegMax = 2000

func openANN(t testing.TB, dir string, log *syncBuf) *Engine {
	t.Helper()
	return openTest(t, dir, func(c *Config) {
		c.SegmentMaxRows = annSegMax
		c.Sync = SyncInterval
		c.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
}

// newANNFixture creates the collection with index params, loads it and
// inserts n clustered rows (the index is created before the inserts, so
// segments are indexed as they seal).
func newANNFixture(t testing.TB, n, dim int, params map[string]string) *annFixture {
	t.Helper()
	f := &annFixture{dir: t.TempDir(), dim: dim, log: &syncBuf{}}
	f.e = openANN(t, f.dir, f.log)
	must0(t, f.e.CreateCollection(bg, "", annSchema("a", dim), CreateCollectionOptions{}))
	must0(t, f.e.CreateIndex(bg, "", "a", "vec", "", params))
	must0(t, f.e.LoadCollection(bg, "", "a"))
	f.vecs = clustered(rand.New(rand.NewSource(7)), n, dim, 40, 0.1)
	f.insert(t, 0, n)
	return f
}

func (f *annFixture) insert(t testing.TB, lo, hi int) {
	t.Helper()
	const per = 500
	for i := lo; i < hi; i += per {
		m := min(per, hi-i)
		grp := make([]int64, m)
		for j := range grp {
			grp[j] = int64(i+j) % 10
		}
		fields := []*schemapb.FieldData{longField("id", seq(i, m)), vecField("vec", f.dim, f.vecs[i*f.dim:(i+m)*f.dim]), longField("grp", grp)}
		if _, err := f.e.Insert(bg, "", "a", "", fields, m); err != nil {
			t.Fatal(err)
		}
	}
}

func must0(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitBuilds(t testing.TB, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 2*time.Minute)
	defer cancel()
	must0(t, e.WaitIndexBuilds(ctx))
}

// search returns the ids per query.
func (f *annFixture) search(t testing.TB, qs [][]float32, k int, params map[string]string, filter string) [][]int64 {
	t.Helper()
	res, err := f.e.Search(bg, &SearchRequest{Collection: "a", Vectors: qs, TopK: k, Params: params, Filter: filter, RoundDecimal: -1})
	if err != nil {
		t.Fatal(err)
	}
	ids := res.GetIds().GetIntId().GetData()
	out := make([][]int64, len(qs))
	off := 0
	for i, n := range res.GetTopks() {
		out[i] = ids[off : off+int(n)]
		off += int(n)
	}
	return out
}

// brute returns the exact L2 top k ids among rows 0..n-1 passing ok.
func (f *annFixture) brute(q []float32, n, k int, ok func(id int) bool) []int64 {
	type hit struct {
		id int
		d  float32
	}
	var hs []hit
	for id := range n {
		if ok != nil && !ok(id) {
			continue
		}
		v := f.vecs[id*f.dim : (id+1)*f.dim]
		var d float32
		for j := range v {
			x := v[j] - q[j]
			d += x * x
		}
		hs = append(hs, hit{id, d})
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].d < hs[j].d || (hs[i].d == hs[j].d && hs[i].id < hs[j].id) })
	out := make([]int64, 0, k)
	for _, h := range hs[:min(k, len(hs))] {
		out = append(out, int64(h.id))
	}
	return out
}

func recall(got, want [][]int64) float64 {
	hit, total := 0, 0
	for i := range want {
		for _, id := range want[i] {
			if slices.Contains(got[i], id) {
				hit++
			}
		}
		total += len(want[i])
	}
	return float64(hit) / float64(total)
}

func queries(r *rand.Rand, nq, dim int) [][]float32 {
	qs := clustered(r, nq, dim, 40, 0.1)
	out := make([][]float32, nq)
	for i := range out {
		out[i] = qs[i*dim : (i+1)*dim]
	}
	return out
}

func hnswL2(m, efc int) map[string]string {
	return map[string]string{"index_type": "HNSW", "metric_type": "L2", "M": fmt.Sprint(m), "efConstruction": fmt.Sprint(efc)}
}

// annSegs returns the sealed segments of collection "a" and how many have
// an attached index.
func annSegs(e *Engine) (segs []*segment, indexed int) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c := e.cat.byName[nameKey(DefaultDB, "a")]
	vf := c.vectorFields()[0]
	for _, p := range c.partitions {
		for _, s := range p.segs {
			if s.sealed {
				segs = append(segs, s)
				if s.ann[vf].Load() != nil {
					indexed++
				}
			}
		}
	}
	return segs, indexed
}

// TestHNSWRecallAcrossSegments: 4 sealed HNSW-indexed segments + a growing
// one; recall@10 at ef=64 >= 0.95 against brute force; DescribeIndex
// reports the sealed rows indexed.
func TestHNSWRecallAcrossSegments(t *testing.T) {
	const n, dim, k = 4*annSegMax + 700, 32, 10
	f := newANNFixture(t, n, dim, hnswL2(16, 100))
	defer f.e.Close()
	waitBuilds(t, f.e)
	segs, indexed := annSegs(f.e)
	if len(segs) != 4 || indexed != 4 || f.e.ix.nBuilt.Load() != 4 {
		t.Fatalf("sealed %d, indexed %d, built %d; want 4, 4, 4", len(segs), indexed, f.e.ix.nBuilt.Load())
	}
	ixs, err := f.e.DescribeIndex("", "a", "", "")
	must0(t, err)
	if ix := ixs[0]; ix.State != commonpb.IndexState_Finished || ix.IndexedRows != 4*annSegMax || ix.TotalRows != 4*annSegMax || ix.PendingRows != 0 {
		t.Fatalf("DescribeIndex: %+v", ix)
	}
	qs := queries(rand.New(rand.NewSource(99)), 200, dim)
	want := make([][]int64, len(qs))
	for i, q := range qs {
		want[i] = f.brute(q, n, k, nil)
	}
	got := f.search(t, qs, k, map[string]string{"ef": "64"}, "")
	r := recall(got, want)
	t.Logf("HNSW M=16 efConstruction=100, ef=64: recall@10 = %.4f over %d queries", r, len(qs))
	if r < 0.95 {
		t.Fatalf("recall@10 %.4f < 0.95", r)
	}
	// Offset: the same ranking shifted.
	off, err := f.e.Search(bg, &SearchRequest{Collection: "a", Vectors: qs[:1], TopK: 5, Offset: 5, Params: map[string]string{"ef": "64"}, RoundDecimal: -1})
	must0(t, err)
	if ids := off.GetIds().GetIntId().GetData(); !slices.Equal(ids, got[0][5:]) {
		t.Fatalf("offset 5: %v, want %v", ids, got[0][5:])
	}
}

// TestIVFRecall: IVF_FLAT (nlist 32, nprobe 8) over sealed segments.
func TestIVFRecall(t *testing.T) {
	const n, dim, k = 3*annSegMax + 300, 16, 10
	f := newANNFixture(t, n, dim, map[string]string{"index_type": "IVF_FLAT", "metric_type": "L2", "nlist": "32"})
	defer f.e.Close()
	waitBuilds(t, f.e)
	if _, indexed := annSegs(f.e); indexed != 3 {
		t.Fatalf("indexed %d segments, want 3", indexed)
	}
	qs := queries(rand.New(rand.NewSource(5)), 100, dim)
	want := make([][]int64, len(qs))
	for i, q := range qs {
		want[i] = f.brute(q, n, k, nil)
	}
	r := recall(f.search(t, qs, k, map[string]string{"nprobe": "8"}, ""), want)
	t.Logf("IVF_FLAT nlist=32 nprobe=8: recall@10 = %.4f", r)
	if r < 0.9 {
		t.Fatalf("recall@10 %.4f < 0.9", r)
	}
	if r := recall(f.search(t, qs, k, map[string]string{"nprobe": "32"}, ""), want); r != 1 {
		t.Fatalf("nprobe = nlist: recall %.4f, want 1", r)
	}
}

// TestANNDeletesAndFilters: deleted rows and rows failing the filter are
// never returned by the index path; a selective filter still finds its
// rows; a snapshot older than a delete still sees the row.
func TestANNDeletesAndFilters(t *testing.T) {
	const n, dim, k = 3*annSegMax + 500, 16, 10
	f := newANNFixture(t, n, dim, hnswL2(16, 64))
	defer f.e.Close()
	waitBuilds(t, f.e)

	segs, _ := annSegs(f.e)
	s0 := segs[0]
	si := s0.ann[1].Load()
	visBefore := f.e.visibleLSN()

	deleted := func(id int) bool { return id%7 == 0 || (id >= 100 && id < 1100) }
	_, err := f.e.Delete(bg, "", "a", "", "id % 7 == 0 or (id >= 100 and id < 1100)")
	must0(t, err)

	qs := queries(rand.New(rand.NewSource(11)), 50, dim)
	// Queries at deleted rows' own vectors.
	for _, id := range []int{0, 7, 150, 700, 1099, 2002} {
		qs = append(qs, f.vecs[id*dim:(id+1)*dim])
	}
	check := func(name string, filter string, pass func(id int) bool, minRecall float64) {
		t.Helper()
		got := f.search(t, qs, k, map[string]string{"ef": "64"}, filter)
		want := make([][]int64, len(qs))
		for i, q := range qs {
			want[i] = f.brute(q, n, k, func(id int) bool { return !deleted(id) && (pass == nil || pass(id)) })
			if len(got[i]) != len(want[i]) {
				t.Fatalf("%s: query %d: %d results, want %d", name, i, len(got[i]), len(want[i]))
			}
			for _, id := range got[i] {
				if deleted(int(id)) || (pass != nil && !pass(int(id))) {
					t.Fatalf("%s: query %d returned excluded row %d", name, i, id)
				}
			}
		}
		if r := recall(got, want); r < minRecall {
			t.Fatalf("%s: recall %.4f < %.2f", name, r, minRecall)
		}
	}
	check("deletes", "", nil, 0.95)
	check("filter grp in [1,2,3]", "grp in [1, 2, 3]", func(id int) bool { g := id % 10; return g >= 1 && g <= 3 }, 0.95)
	// Selective: 11 rows (exact fallback inside hnsw).
	check("selective", "id in [5, 6, 8, 9, 99, 1100, 1101, 2500, 4000, 6001, 6499]", func(id int) bool {
		return slices.Contains([]int{5, 6, 8, 9, 99, 1100, 1101, 2500, 4000, 6001, 6499}, id)
	}, 1)
	// Nothing passes.
	check("empty", "grp > 100", func(int) bool { return false }, 0)

	// Visibility is by LSN: a snapshot before the delete still finds row
	// 150, on both paths of the index search. (This check once asked the
	// graph walk for the top 1 at ef 64 and flaked: a concurrent build
	// could leave a row unreachable — hnsw's setLinks overwrote links that
	// concurrent inserts had made, see hnsw TestInsertKeepsConcurrentLinks —
	// and a rarer residue of concurrent building remains, so a graph walk
	// is not asserted to find any given row.)
	f.e.mu.RLock()
	old, cur := s0.snapshot(visBefore), s0.snapshot(f.e.visibleLSN())
	f.e.mu.RUnlock()
	q := f.vecs[150*dim : 151*dim]
	has150 := func(hs []flat.Hit) bool {
		return slices.ContainsFunc(hs, func(h flat.Hit) bool { return h.ID == 150 })
	}
	// Exact path: at ef 256 a segment of 2000 rows (<= 16 * ef) is scanned.
	exact := annQuery{ef: 256}
	if hs := si.search(q, 10, &exact, allowFor(&old, si.rows, nil)); !has150(hs) {
		t.Fatalf("old snapshot, exact: %v, want row 150 among them", hs)
	}
	if hs := si.search(q, 10, &exact, allowFor(&cur, si.rows, nil)); len(hs) == 0 || has150(hs) {
		t.Fatalf("current snapshot, exact: %v, want rows other than 150", hs)
	}
	// Graph walk: the old snapshot allows every row, so the walk (the
	// same graph, deterministic) returns what an unfiltered walk returns,
	// row 150 included whenever the walk finds it.
	walk := annQuery{ef: 64}
	if got, all := si.search(q, 10, &walk, allowFor(&old, si.rows, nil)), si.search(q, 10, &walk, nil); !slices.Equal(got, all) {
		t.Fatalf("old snapshot, graph walk: %v, want the unfiltered %v", got, all)
	}
	if hs := si.search(q, 10, &walk, allowFor(&cur, si.rows, nil)); len(hs) == 0 || has150(hs) {
		t.Fatalf("current snapshot, ef 64: %v, want rows other than 150", hs)
	}
}

// TestIndexPersistence: index files are written, listed at checkpoint and
// loaded at start-up without a rebuild; a corrupt or missing file is
// rebuilt with a warning; dropping the index or the collection removes its
// files at the next checkpoint.
func TestIndexPersistence(t *testing.T) {
	const n, dim, k = 3*annSegMax + 100, 16, 10
	f := newANNFixture(t, n, dim, hnswL2(8, 40))
	waitBuilds(t, f.e)
	qs := queries(rand.New(rand.NewSource(3)), 20, dim)
	before := f.search(t, qs, k, map[string]string{"ef": "32"}, "")
	must0(t, f.e.Close())
	files := indexFiles(t, f.dir)
	if len(files) != 3 {
		t.Fatalf("index files %v, want 3", files)
	}

	// Reopen: loaded, not rebuilt; same results.
	f.e = openANN(t, f.dir, f.log)
	waitBuilds(t, f.e)
	if l, b := f.e.ix.loads.Load(), f.e.ix.nBuilt.Load(); l != 3 || b != 0 {
		t.Fatalf("reopen: loaded %d, built %d; want 3, 0", l, b)
	}
	if after := f.search(t, qs, k, map[string]string{"ef": "32"}, ""); !slices.EqualFunc(before, after, slices.Equal) {
		t.Fatalf("results changed after reload:\n%v\n%v", before, after)
	}
	must0(t, f.e.Close())

	// Corrupt one file, remove another: both rebuilt, with warnings.
	p0 := filepath.Join(f.dir, "segments", files[0])
	b, err := os.ReadFile(p0)
	must0(t, err)
	b[len(b)/2] ^= 0xff
	must0(t, os.WriteFile(p0, b, 0o644))
	must0(t, os.Remove(filepath.Join(f.dir, "segments", files[1])))
	f.e = openANN(t, f.dir, f.log)
	// Searchable at once (exact on the two segments being rebuilt).
	if got := f.search(t, qs, k, map[string]string{"ef": "32"}, ""); len(got[0]) != k {
		t.Fatalf("search during rebuild: %v", got[0])
	}
	waitBuilds(t, f.e)
	if l, b := f.e.ix.loads.Load(), f.e.ix.nBuilt.Load(); l != 1 || b != 2 {
		t.Fatalf("after damage: loaded %d, built %d; want 1, 2", l, b)
	}
	if logs := f.log.String(); strings.Count(logs, "index file unusable") != 2 {
		t.Fatalf("want 2 warnings, log:\n%s", logs)
	}
	if got := indexFiles(t, f.dir); !slices.Equal(got, files) {
		t.Fatalf("index files after rebuild %v, want %v", got, files)
	}

	// Drop the index: files gone after the next checkpoint.
	must0(t, f.e.ReleaseCollection(bg, "", "a"))
	must0(t, f.e.DropIndex(bg, "", "a", "vec", ""))
	must0(t, f.e.Checkpoint(bg))
	if got := indexFiles(t, f.dir); len(got) != 0 {
		t.Fatalf("index files after drop: %v", got)
	}
	// A new IVF index on existing sealed segments: built in the
	// background; InProgress is reported until then (the build is held).
	hold := make(chan struct{})
	started := make(chan struct{}, 8)
	fn := func(int64) { started <- struct{}{}; <-hold }
	f.e.ix.beforeBuild.Store(&fn)
	must0(t, f.e.CreateIndex(bg, "", "a", "vec", "", map[string]string{"index_type": "IVF_FLAT", "metric_type": "L2", "nlist": "16"}))
	awaitChan(t, started)
	ixs, err := f.e.DescribeIndex("", "a", "vec", "")
	must0(t, err)
	// The 100-row tail sealed by Close is below IndexMinRows: indexed.
	if ix := ixs[0]; ix.State != commonpb.IndexState_InProgress || ix.PendingRows != 3*annSegMax || ix.IndexedRows != 100 || ix.TotalRows != n {
		t.Fatalf("DescribeIndex during build: %+v", ix)
	}
	close(hold)
	waitBuilds(t, f.e)
	ixs, err = f.e.DescribeIndex("", "a", "vec", "")
	must0(t, err)
	if ix := ixs[0]; ix.State != commonpb.IndexState_Finished || ix.IndexedRows != n || ix.PendingRows != 0 {
		t.Fatalf("DescribeIndex after build: %+v", ix)
	}
	if got := indexFiles(t, f.dir); len(got) != 3 || !strings.HasSuffix(got[0], ".ivf") {
		t.Fatalf("ivf index files %v", got)
	}
	// Drop the collection: files gone after the next checkpoint.
	must0(t, f.e.DropCollection(bg, "", "a"))
	must0(t, f.e.Checkpoint(bg))
	if got := indexFiles(t, f.dir); len(got) != 0 {
		t.Fatalf("index files after drop collection: %v", got)
	}
	must0(t, f.e.Close())
}

func awaitChan(t testing.TB, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatal("timed out")
	}
}

func indexFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "segments"))
	must0(t, err)
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".hnsw") || strings.HasSuffix(n, ".ivf") || strings.HasSuffix(n, ".hnswq") || strings.HasSuffix(n, ".ivfq") {
			out = append(out, n)
		}
	}
	return out
}

// TestSearchDuringBuild: searches (with deletes and filters) run while
// segments are being indexed and while indexes are attached; run under
// -race.
func TestSearchDuringBuild(t *testing.T) {
	const n, dim, k = 3*annSegMax + 200, 16, 5
	dir := t.TempDir()
	f := &annFixture{dir: dir, dim: dim, log: &syncBuf{}}
	f.e = openANN(t, dir, f.log)
	defer f.e.Close()
	must0(t, f.e.CreateCollection(bg, "", annSchema("a", dim), CreateCollectionOptions{}))
	must0(t, f.e.CreateIndex(bg, "", "a", "vec", "", hnswL2(8, 32)))
	must0(t, f.e.LoadCollection(bg, "", "a"))
	started := make(chan struct{}, 8)
	fn := func(int64) { started <- struct{}{} }
	f.e.ix.beforeBuild.Store(&fn)
	f.vecs = clustered(rand.New(rand.NewSource(1)), n, dim, 40, 0.1)

	stop := make(chan struct{})
	// Rows id < deletedUpTo with id%5 == 0 are deleted (and the delete
	// acknowledged, hence visible).
	var deletedUpTo atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(g)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				qs := queries(r, 2, dim)
				del := deletedUpTo.Load()
				filter := ""
				if g == 1 {
					filter = "grp != 3"
				}
				res, err := f.e.Search(bg, &SearchRequest{Collection: "a", Vectors: qs, TopK: k, Params: map[string]string{"ef": "16"}, Filter: filter, RoundDecimal: -1})
				if err != nil {
					errs <- err
					return
				}
				for _, id := range res.GetIds().GetIntId().GetData() {
					if (id%5 == 0 && id < del) || (g == 1 && id%10 == 3) {
						errs <- fmt.Errorf("excluded row %d returned", id)
						return
					}
				}
			}
		}()
	}
	// Insert (sealing segments, which starts builds) and delete concurrently.
	for lo := 0; lo < n; lo += annSegMax / 2 {
		hi := min(n, lo+annSegMax/2)
		f.insert(t, lo, hi)
		_, err := f.e.Delete(bg, "", "a", "", fmt.Sprintf("id >= %d and id < %d and id %% 5 == 0", lo, hi))
		must0(t, err)
		deletedUpTo.Store(int64(hi))
	}
	awaitChan(t, started)
	waitBuilds(t, f.e)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, indexed := annSegs(f.e); indexed != 3 {
		t.Fatalf("indexed %d segments, want 3", indexed)
	}
}

// TestIndexParams: bad index params fail CreateIndex with code 1100 and
// write nothing; bad search params fail Search with 1100.
func TestIndexParams(t *testing.T) {
	f := newANNFixture(t, 50, 4, hnswL2(16, 200))
	defer f.e.Close()
	must0(t, f.e.CreateCollection(bg, "", annSchema("b", 4), CreateCollectionOptions{}))
	lsn := f.e.LastLSN()
	for _, p := range []map[string]string{
		{"index_type": "HNSW", "M": "1"},
		{"index_type": "HNSW", "M": "abc"},
		{"index_type": "HNSW", "efConstruction": "0"},
		{"index_type": "IVF_FLAT", "nlist": "0"},
		{"index_type": "IVF_FLAT", "nlist": "70000"},
		{"index_type": "AUTOINDEX", "M": "5000"},
	} {
		err := f.e.CreateIndex(bg, "", "b", "vec", "", p)
		if merr.Code(err) != merr.ErrParameterInvalid.Code {
			t.Errorf("CreateIndex %v: %v (code %d), want 1100", p, err, merr.Code(err))
		}
	}
	if f.e.LastLSN() != lsn {
		t.Fatalf("rejected CreateIndex wrote records: lsn %d -> %d", lsn, f.e.LastLSN())
	}
	q := [][]float32{f.vecs[:4]}
	for _, p := range []map[string]string{{"ef": "5"}, {"ef": "x"}, {"ef": "40000"}} {
		_, err := f.e.Search(bg, &SearchRequest{Collection: "a", Vectors: q, TopK: 10, Params: p, RoundDecimal: -1})
		if merr.Code(err) != merr.ErrParameterInvalid.Code || strings.HasPrefix(err.Error(), "hnsw:") {
			t.Errorf("Search %v: %v, want 1100 without package prefix", p, err)
		}
	}
	if _, err := f.e.Search(bg, &SearchRequest{Collection: "a", Vectors: q, TopK: 10, Params: map[string]string{"ef": "10"}, RoundDecimal: -1}); err != nil {
		t.Fatal(err)
	}

	// IVF nprobe in [1, nlist]; AUTOINDEX level in [1, 10].
	must0(t, f.e.CreateIndex(bg, "", "b", "vec", "", map[string]string{"index_type": "IVF_FLAT", "metric_type": "L2", "nlist": "8"}))
	must0(t, f.e.LoadCollection(bg, "", "b"))
	for p, want := range map[string]int32{"0": 1100, "9": 1100, "8": 0, "1": 0} {
		_, err := f.e.Search(bg, &SearchRequest{Collection: "b", Vectors: q, TopK: 3, Params: map[string]string{"nprobe": p}, RoundDecimal: -1})
		if merr.Code(err) != want {
			t.Errorf("nprobe %s: %v, want code %d", p, err, want)
		}
	}
	must0(t, f.e.CreateCollection(bg, "", annSchema("c", 4), CreateCollectionOptions{}))
	must0(t, f.e.CreateIndex(bg, "", "c", "vec", "", map[string]string{"metric_type": "L2"}))
	must0(t, f.e.LoadCollection(bg, "", "c"))
	for p, want := range map[string]int32{"0": 1100, "11": 1100, "x": 1100, "1": 0, "10": 0} {
		_, err := f.e.Search(bg, &SearchRequest{Collection: "c", Vectors: q, TopK: 3, Params: map[string]string{"level": p}, RoundDecimal: -1})
		if merr.Code(err) != want {
			t.Errorf("level %s: %v, want code %d", p, err, want)
		}
	}
}

// TestMinRowsExact: sealed segments below IndexMinRows are not indexed
// and count as indexed (nothing to build).
func TestMinRowsExact(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, func(c *Config) { c.SegmentMaxRows = 500 })
	defer e.Close()
	f := &annFixture{e: e, dim: 8, vecs: clustered(rand.New(rand.NewSource(2)), 1200, 8, 10, 0.1)}
	must0(t, e.CreateCollection(bg, "", annSchema("a", 8), CreateCollectionOptions{}))
	must0(t, e.CreateIndex(bg, "", "a", "vec", "", hnswL2(16, 64)))
	f.insert(t, 0, 1200)
	waitBuilds(t, e)
	ixs, err := e.DescribeIndex("", "a", "", "")
	must0(t, err)
	if ix := ixs[0]; ix.State != commonpb.IndexState_Finished || ix.IndexedRows != 1000 || ix.TotalRows != 1000 || e.ix.nBuilt.Load() != 0 {
		t.Fatalf("DescribeIndex %+v, built %d", ix, e.ix.nBuilt.Load())
	}
}

// TestCloseDuringBuild: Close stops a running build (no file is written)
// and the next Open builds the index again.
func TestCloseDuringBuild(t *testing.T) {
	const n, dim = annSegMax + 10, 8
	dir := t.TempDir()
	f := &annFixture{dir: dir, dim: dim, log: &syncBuf{}, vecs: clustered(rand.New(rand.NewSource(4)), n, dim, 10, 0.1)}
	f.e = openANN(t, dir, f.log)
	started := make(chan struct{}, 1)
	stop := f.e.ix.stop
	fn := func(int64) { started <- struct{}{}; <-stop }
	f.e.ix.beforeBuild.Store(&fn)
	must0(t, f.e.CreateCollection(bg, "", annSchema("a", dim), CreateCollectionOptions{}))
	must0(t, f.e.CreateIndex(bg, "", "a", "vec", "", hnswL2(8, 32)))
	f.insert(t, 0, n)
	awaitChan(t, started)
	must0(t, f.e.Close())
	if got := indexFiles(t, dir); len(got) != 0 || f.e.ix.nStarted.Load() != 0 {
		t.Fatalf("index files %v, builds started %d after Close during build", got, f.e.ix.nStarted.Load())
	}
	f.e = openANN(t, dir, f.log)
	defer f.e.Close()
	waitBuilds(t, f.e)
	if b := f.e.ix.nBuilt.Load(); b != 1 || len(indexFiles(t, dir)) != 1 {
		t.Fatalf("built %d, files %v", b, indexFiles(t, dir))
	}
}
