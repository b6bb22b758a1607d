package hnsw

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/tandem-db/tandem/internal/fileutil"
	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/index/flat"
	"github.com/tandem-db/tandem/internal/merr"
)

var metrics = []distance.Metric{distance.L2, distance.IP, distance.Cosine}

// chunkVecs stores rows in fixed-size chunks of contiguous float32, like the
// engine's segment storage.
type chunkVecs struct {
	dim    int
	per    int
	chunks [][]float32
	n      int
}

func (c *chunkVecs) Dim() int { return c.dim }
func (c *chunkVecs) Vector(id uint32) []float32 {
	ch := c.chunks[int(id)/c.per]
	o := (int(id) % c.per) * c.dim
	return ch[o : o+c.dim : o+c.dim]
}

// mixture returns n vectors drawn from a seeded Gaussian mixture stored in
// chunks of 1024 rows: `clusters` centres uniform in [-1,1]^dim, and around
// each centre a Gaussian of intrinsic dimension 40 (a random 40-d linear map
// of N(0, I), scale 0.5 per axis) plus isotropic noise sigma 0.05 — like
// real embeddings, whose intrinsic dimension is far below dim.
func mixture(n, dim, clusters int, seed uint64) *chunkVecs {
	const intrinsic = 40
	r := rand.New(rand.NewPCG(1000+uint64(dim)*31+uint64(clusters), 7)) // centres: fixed per (dim, clusters)
	centres := make([][]float32, clusters)
	maps := make([][]float32, clusters) // intrinsic x dim
	for i := range centres {
		centres[i] = make([]float32, dim)
		for j := range centres[i] {
			centres[i][j] = r.Float32()*2 - 1
		}
		maps[i] = make([]float32, intrinsic*dim)
		for j := range maps[i] {
			maps[i][j] = float32(r.NormFloat64()) * 0.5 / 6.3 // ~0.5 per axis: 0.5/sqrt(40)
		}
	}
	r = rand.New(rand.NewPCG(seed, 7))
	c := &chunkVecs{dim: dim, per: 1024, n: n}
	var z [intrinsic]float32
	for i := 0; i < n; i++ {
		if i%c.per == 0 {
			c.chunks = append(c.chunks, make([]float32, c.per*dim))
		}
		v := c.Vector(uint32(i))
		ci := r.IntN(clusters)
		for a := range z {
			z[a] = float32(r.NormFloat64())
		}
		for j := range v {
			x := centres[ci][j] + float32(r.NormFloat64())*0.1
			for a := range z {
				x += z[a] * maps[ci][a*dim+j]
			}
			v[j] = x
		}
	}
	return c
}

// queries draws nq query vectors from the same mixture family (different
// seed for the noise, same centres).
func queries(nq, dim, clusters int, seed uint64) [][]float32 {
	all := mixture(nq, dim, clusters, seed)
	out := make([][]float32, nq)
	for i := range out {
		out[i] = append([]float32(nil), all.Vector(uint32(i))...)
	}
	return out
}

func score(m distance.Metric, q, v []float32) float32 {
	switch m {
	case distance.L2:
		return distance.L2Squared(q, v)
	case distance.IP:
		return distance.Dot(q, v)
	}
	return -(-distance.Dot(q, v) * invNorm(q) * invNorm(v))
}

// brute returns the exact top k among rows allowed by keep.
func brute(vs *chunkVecs, m distance.Metric, q []float32, k int, keep func(uint32) bool) []flat.Hit {
	t := flat.NewTopK(k, m)
	for i := 0; i < vs.n; i++ {
		if keep != nil && !keep(uint32(i)) {
			continue
		}
		t.Push(int64(i), score(m, q, vs.Vector(uint32(i))))
	}
	return t.Results()
}

func recall(got, want []flat.Hit) float64 {
	set := map[int64]bool{}
	for _, h := range want {
		set[h.ID] = true
	}
	n := 0
	for _, h := range got {
		if set[h.ID] {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

func build(t testing.TB, vs *chunkVecs, m distance.Metric, threads int) *Index {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Metric = m
	cfg.Seed = 42
	x, err := New(cfg, vs, vs.n)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.AddAll(vs.n, threads); err != nil {
		t.Fatal(err)
	}
	if x.Len() != vs.n {
		t.Fatalf("Len %d want %d", x.Len(), vs.n)
	}
	return x
}

// TestRecallEf32 checks recall@10 >= 0.95 at ef=32 (M=16,
// efConstruction=200) on 10k x 64 Gaussian-mixture rows, all metrics.
func TestRecallEf32(t *testing.T) {
	n, nq := 10000, 200
	if raceEnabled {
		n, nq = 1000, 30
	}
	const dim, clusters, k, ef = 64, 50, 10, 32
	vs := mixture(n, dim, clusters, 1)
	qs := queries(nq, dim, clusters, 2)
	for _, m := range metrics {
		t.Run(m.String(), func(t *testing.T) {
			x := build(t, vs, m, 2)
			var sum float64
			for _, q := range qs {
				got := x.Search(q, k, ef, nil)
				want := brute(vs, m, q, k, nil)
				if len(got) != k {
					t.Fatalf("got %d hits", len(got))
				}
				for i := 1; i < len(got); i++ {
					if m.HigherIsBetter() && got[i].Score > got[i-1].Score || !m.HigherIsBetter() && got[i].Score < got[i-1].Score {
						t.Fatalf("results not best first: %v", got)
					}
				}
				// Scores are Milvus scores of the returned rows.
				for _, h := range got {
					s := score(m, q, vs.Vector(uint32(h.ID)))
					if d := s - h.Score; d > 1e-3*(1+abs(s)) || -d > 1e-3*(1+abs(s)) {
						t.Fatalf("row %d score %v, want %v", h.ID, h.Score, s)
					}
				}
				sum += recall(got, want)
			}
			r := sum / float64(len(qs))
			t.Logf("%v recall@10 ef=%d: %.4f", m, ef, r)
			if r < 0.95 {
				t.Fatalf("recall@10 = %.4f < 0.95", r)
			}
		})
	}
}

func abs(f float32) float32 {
	if f < 0 {
		return -f
	}
	return f
}

func TestDeletesAndFiltersNeverReturned(t *testing.T) {
	n := 3000
	if raceEnabled {
		n = 600
	}
	const dim, k = 32, 10
	vs := mixture(n, dim, 20, 3)
	qs := queries(40, dim, 20, 4)
	r := rand.New(rand.NewPCG(5, 5))
	for _, m := range metrics {
		x := build(t, vs, m, 2)
		deleted := map[uint32]bool{}
		for i := 0; i < n/5; i++ {
			id := uint32(r.IntN(n))
			x.Delete(id)
			deleted[id] = true
		}
		x.Delete(uint32(n + 5)) // out of range: no-op
		if x.Len() != n-len(deleted) {
			t.Fatalf("Len %d want %d", x.Len(), n-len(deleted))
		}
		for _, frac := range []float64{1, 0.5, 0.1, 0.02, 0.005, 0.001} {
			allowed := make([]bool, n)
			for i := range allowed {
				allowed[i] = r.Float64() < frac
			}
			var allow func(uint32) bool
			if frac < 1 {
				allow = func(id uint32) bool { return allowed[id] }
			}
			keep := func(id uint32) bool { return !deleted[id] && (allow == nil || allow(id)) }
			live := 0
			for i := 0; i < n; i++ {
				if keep(uint32(i)) {
					live++
				}
			}
			var rsum float64
			for _, q := range qs {
				got := x.Search(q, k, 32, allow)
				want := brute(vs, m, q, k, keep)
				if len(got) != min(k, live) {
					t.Fatalf("%v frac %v: got %d hits, want %d", m, frac, len(got), min(k, live))
				}
				for _, h := range got {
					if !keep(uint32(h.ID)) {
						t.Fatalf("%v frac %v: excluded row %d returned", m, frac, h.ID)
					}
				}
				if frac <= 0.005 {
					// Selective: exact fallback, must equal brute force.
					for i := range got {
						if got[i].ID != want[i].ID {
							t.Fatalf("%v frac %v: hit %d = %v want %v", m, frac, i, got[i], want[i])
						}
					}
				}
				rsum += recall(got, want)
			}
			t.Logf("%v frac %v: recall %.3f", m, frac, rsum/float64(len(qs)))
		}
	}
}

// TestFilterFallbackWhenWalkFindsTooFew: a filter the sampler misjudges
// (it answers "allowed" to the first sampleProbes calls, which the
// selectivity sampler makes, then allows only 30 rows) makes the walk end
// with fewer than k hits; Search falls back to exact and returns the true
// top-k.
func TestFilterFallbackWhenWalkFindsTooFew(t *testing.T) {
	const dim, k = 16, 10
	n := 4000
	if raceEnabled {
		n = 1200
	}
	vs := mixture(n, dim, 10, 8)
	x := build(t, vs, distance.L2, 1)
	block := func(id uint32) bool { return id >= 1000 && id < 1030 }
	for _, q := range queries(20, dim, 10, 9) {
		calls := 0
		fooling := func(id uint32) bool {
			calls++
			return calls <= sampleProbes || block(id)
		}
		got := x.Search(q, k, 16, fooling)
		want := brute(vs, distance.L2, q, k, block)
		if calls <= sampleProbes+16 {
			t.Fatalf("filter called %d times: the graph walk did not run", calls)
		}
		if len(got) != k {
			t.Fatalf("got %d hits", len(got))
		}
		for i := range got {
			if got[i].ID != want[i].ID {
				t.Fatalf("hit %d = %v want %v", i, got[i], want[i])
			}
		}
	}
}

func TestSmallAndEdgeCases(t *testing.T) {
	vs := mixture(5, 4, 2, 1)
	x, err := New(DefaultConfig(), vs, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := x.Search(vs.Vector(0), 3, 10, nil); got != nil {
		t.Fatalf("empty index returned %v", got)
	}
	if err := x.Add(0); err != nil {
		t.Fatal(err)
	}
	if err := x.Add(0); !errors.Is(err, merr.ErrParameterInvalid) {
		t.Fatalf("duplicate add: %v", err)
	}
	if err := x.Add(5); !errors.Is(err, merr.ErrParameterInvalid) {
		t.Fatalf("out of range add: %v", err)
	}
	if got := x.Search(vs.Vector(0), 3, 10, nil); len(got) != 1 || got[0].ID != 0 {
		t.Fatalf("one-row index: %v", got)
	}
	if got := x.Search([]float32{1}, 3, 10, nil); got != nil {
		t.Fatalf("wrong dim: %v", got)
	}
	if err := x.AddAll(5, 3); err != nil {
		t.Fatal(err)
	}
	if got := x.Search(vs.Vector(3), 10, 10, nil); len(got) != 5 || got[0].ID != 3 {
		t.Fatalf("five-row index: %v", got)
	}
	if _, err := New(Config{Metric: distance.L2, M: 1, EfConstruction: 10}, vs, 5); !errors.Is(err, merr.ErrParameterInvalid) {
		t.Fatalf("M=1: %v", err)
	}
}

func TestParseParams(t *testing.T) {
	cfg, err := ParseParams(map[string]string{"M": "32", "efConstruction": "100", "metric_type": "l2", "index_type": "HNSW"})
	if err != nil || cfg.M != 32 || cfg.EfConstruction != 100 || cfg.Metric != distance.L2 {
		t.Fatalf("got %+v, %v", cfg, err)
	}
	cfg, err = ParseParams(nil)
	if err != nil || cfg != DefaultConfig() {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	for _, p := range []map[string]string{
		{"M": "1"}, {"M": "2049"}, {"M": "x"}, {"efConstruction": "0"},
		{"efConstruction": "2147483648"}, {"metric_type": "HAMMING"},
	} {
		if _, err := ParseParams(p); !errors.Is(err, merr.ErrParameterInvalid) {
			t.Errorf("%v: err %v", p, err)
		}
	}
	for _, tc := range []struct {
		p    map[string]string
		topK int
		ef   int
		ok   bool
	}{
		{nil, 10, 64, true}, {nil, 100, 100, true}, {map[string]string{"ef": "20"}, 10, 20, true},
		{map[string]string{"ef": "5"}, 10, 0, false}, {map[string]string{"ef": "32769"}, 10, 0, false},
		{map[string]string{"ef": "32768"}, 10, 32768, true}, {map[string]string{"ef": "abc"}, 10, 0, false},
		{nil, 0, 0, false},
	} {
		ef, err := ParseSearchParams(tc.p, tc.topK)
		if tc.ok != (err == nil) || ef != tc.ef {
			t.Errorf("%v topK %d: ef %d err %v", tc.p, tc.topK, ef, err)
		}
		if err != nil && !errors.Is(err, merr.ErrParameterInvalid) {
			t.Errorf("error does not wrap ErrParameterInvalid: %v", err)
		}
	}
}

func TestPersistRoundTrip(t *testing.T) {
	const dim, k = 24, 10
	n := 2000
	if raceEnabled {
		n = 400
	}
	vs := mixture(n, dim, 10, 11)
	qs := queries(30, dim, 10, 12)
	for _, m := range metrics {
		cfg := DefaultConfig()
		cfg.Metric = m
		cfg.Seed = 9
		x, err := New(cfg, vs, n+100) // spare capacity
		if err != nil {
			t.Fatal(err)
		}
		if err := x.AddAll(n, 2); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i += 7 {
			x.Delete(uint32(i))
		}
		var buf bytes.Buffer
		wn, err := x.WriteTo(&buf)
		if err != nil || wn != int64(buf.Len()) {
			t.Fatalf("WriteTo: %d, %v (buffer %d)", wn, err, buf.Len())
		}
		y, err := Load(bytes.NewReader(buf.Bytes()), vs)
		if err != nil {
			t.Fatal(err)
		}
		if y.Len() != x.Len() || y.Config() != x.Config() {
			t.Fatalf("Len %d/%d cfg %+v/%+v", y.Len(), x.Len(), y.Config(), x.Config())
		}
		allow := func(id uint32) bool { return id%3 != 0 }
		for _, q := range qs {
			for _, a := range []func(uint32) bool{nil, allow} {
				g, w := y.Search(q, k, 50, a), x.Search(q, k, 50, a)
				if fmt.Sprint(g) != fmt.Sprint(w) {
					t.Fatalf("%v: loaded %v, original %v", m, g, w)
				}
			}
		}
		var buf2 bytes.Buffer
		if _, err := y.WriteTo(&buf2); err != nil || !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
			t.Fatalf("rewrite differs (%v)", err)
		}
	}
}

func smallIndexFile(t testing.TB) ([]byte, *chunkVecs) {
	// Small on purpose: the fuzzer minimises inputs of this size quickly.
	vs := mixture(60, 4, 3, 13)
	cfg := DefaultConfig()
	cfg.M = 2
	cfg.Seed = 3
	x, err := New(cfg, vs, vs.n)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.AddAll(vs.n, 1); err != nil {
		t.Fatal(err)
	}
	x.Delete(7)
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), vs
}

func TestLoadCorrupt(t *testing.T) {
	file, vs := smallIndexFile(t)
	if _, err := Load(bytes.NewReader(file), vs); err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(file); cut += 1 + cut/10 {
		if _, err := Load(bytes.NewReader(file[:cut]), vs); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: %v", cut, err)
		}
	}
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 300; i++ {
		b := bytes.Clone(file)
		pos := r.IntN(len(b))
		b[pos] ^= byte(1 + r.IntN(255))
		if _, err := Load(bytes.NewReader(b), vs); err == nil {
			t.Fatalf("flip at %d accepted", pos)
		}
	}
	if _, err := Load(bytes.NewReader(file), mixture(10, 9, 2, 1)); !errors.Is(err, merr.ErrParameterInvalid) {
		t.Fatalf("dimension mismatch: %v", err)
	}
}

// FuzzLoad: Load never panics, and what it accepts can be searched.
func FuzzLoad(f *testing.F) {
	file, vs := smallIndexFile(f)
	f.Add(file)
	f.Add(file[:100])
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Fix up the checksum half the time so that the structural checks
		// (not just the CRC) are exercised.
		if len(b) > headerSize+4 && b[len(b)-1]&1 == 0 {
			b = bytes.Clone(b)
			b = b[:len(b)-4]
			sum := crc32.Checksum(b, fileutil.CastagnoliTable)
			b = append(b, byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24))
		}
		x, err := Load(bytes.NewReader(b), vs)
		if err != nil {
			return
		}
		x.Search(vs.Vector(1), 5, 20, nil)
		x.Search(vs.Vector(2), 5, 20, func(id uint32) bool { return id%2 == 0 })
	})
}

func TestConcurrentAddSearchDelete(t *testing.T) {
	const n, dim, k = 1500, 16, 5
	vs := mixture(n, dim, 8, 21)
	qs := queries(50, dim, 8, 22)
	for _, m := range metrics {
		cfg := DefaultConfig()
		cfg.Metric = m
		cfg.M = 8
		cfg.EfConstruction = 40
		x, err := New(cfg, vs, n)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(3)
		go func() {
			defer wg.Done()
			if err := x.AddAll(n, 2); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				for _, h := range x.Search(qs[i%len(qs)], k, 20, func(id uint32) bool { return id%2 == 0 }) {
					if h.ID%2 != 0 {
						t.Errorf("filtered row %d returned", h.ID)
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < n; i += 13 {
				x.Delete(uint32(i))
			}
		}()
		wg.Wait()
		for i := 0; i < n; i += 13 {
			x.Delete(uint32(i))
		}
		for _, q := range qs {
			got := x.Search(q, k, 30, nil)
			if len(got) != k {
				t.Fatalf("got %d", len(got))
			}
			for _, h := range got {
				if h.ID%13 == 0 {
					t.Fatalf("deleted row %d returned", h.ID)
				}
			}
		}
	}
}

func TestHeapSortResults(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for trial := 0; trial < 200; trial++ {
		s := newSearcher(1)
		n := r.IntN(50)
		for i := 0; i < n; i++ {
			s.pushRes(cand{float32(r.IntN(20)), uint32(i)})
		}
		got := s.heapSortResults()
		if len(got) != n {
			t.Fatalf("len %d want %d", len(got), n)
		}
		for i := 1; i < len(got); i++ {
			if got[i-1].d > got[i].d {
				t.Fatalf("not sorted: %v", got)
			}
		}
	}
}

// TestKeepPruned: with KeepPruned, level-0 lists are fuller, recall holds,
// and the flag survives WriteTo/Load.
func TestKeepPruned(t *testing.T) {
	vs := mixture(2000, 16, 10, 31)
	links := func(x *Index) (n int) {
		for i := 0; i < vs.n; i++ {
			n += int(x.list(uint32(i), 0)[0])
		}
		return n
	}
	cfg := DefaultConfig()
	cfg.Metric = distance.L2
	a, _ := New(cfg, vs, vs.n)
	cfg.KeepPruned = true
	b, _ := New(cfg, vs, vs.n)
	if err := a.AddAll(vs.n, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.AddAll(vs.n, 1); err != nil {
		t.Fatal(err)
	}
	if la, lb := links(a), links(b); lb <= la {
		t.Fatalf("KeepPruned links %d <= default %d", lb, la)
	}
	var sum float64
	qs := queries(50, 16, 10, 32)
	for _, q := range qs {
		sum += recall(b.Search(q, 10, 32, nil), brute(vs, distance.L2, q, 10, nil))
	}
	if r := sum / float64(len(qs)); r < 0.95 {
		t.Fatalf("KeepPruned recall %.3f", r)
	}
	var buf bytes.Buffer
	b.WriteTo(&buf)
	c, err := Load(&buf, vs)
	if err != nil || !c.Config().KeepPruned {
		t.Fatalf("reload: %v %+v", err, c.Config())
	}
}

func TestAllowDenySet(t *testing.T) {
	bits := []uint64{1<<3 | 1<<63, 1 << 0}
	allow, deny := AllowSet(bits), DenySet(bits)
	for id, want := range map[uint32]bool{0: false, 3: true, 63: true, 64: true, 65: false, 500: false} {
		if allow(id) != want {
			t.Errorf("AllowSet(%d) = %v", id, !want)
		}
		if id < 128 && deny(id) == want {
			t.Errorf("DenySet(%d) = %v", id, want)
		}
	}
	if !deny(500) {
		t.Error("DenySet beyond the bitset")
	}
}
