package ivf

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

// mixture: `clusters` centres uniform in [-1,1]^dim; around each a Gaussian
// of intrinsic dimension 40 (random linear map, ~0.5 per axis) plus
// isotropic noise 0.1 (the same family as the hnsw tests).
func mixture(n, dim, clusters int, seed uint64) *chunkVecs {
	const intrinsic = 40
	r := rand.New(rand.NewPCG(1000+uint64(dim)*31+uint64(clusters), 7))
	centres := make([][]float32, clusters)
	maps := make([][]float32, clusters)
	for i := range centres {
		centres[i] = make([]float32, dim)
		for j := range centres[i] {
			centres[i][j] = r.Float32()*2 - 1
		}
		maps[i] = make([]float32, intrinsic*dim)
		for j := range maps[i] {
			maps[i][j] = float32(r.NormFloat64()) * 0.5 / 6.3
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
	return distance.Dot(q, v) * invNorm(q) * invNorm(v)
}

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

func build(t testing.TB, vs *chunkVecs, m distance.Metric, nlist, threads int) *Index {
	t.Helper()
	x, err := New(Config{Metric: m, Nlist: nlist, Seed: 3}, vs)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Train(vs.n, threads); err != nil {
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

// TestRecallNprobe16 checks recall@10 >= 0.95 with nlist=100, nprobe=16 on
// 10k x 64 Gaussian-mixture rows (50 clusters), all metrics.
func TestRecallNprobe16(t *testing.T) {
	n, nq := 10000, 200
	if raceEnabled {
		n, nq = 2000, 30
	}
	const dim, clusters, k, nlist, nprobe = 64, 50, 10, 100, 16
	vs := mixture(n, dim, clusters, 1)
	qs := queries(nq, dim, clusters, 2)
	for _, m := range metrics {
		t.Run(m.String(), func(t *testing.T) {
			x := build(t, vs, m, nlist, 2)
			sizes := x.ListSizes()
			total := 0
			for _, s := range sizes {
				total += s
			}
			if total != n {
				t.Fatalf("lists hold %d rows, want %d", total, n)
			}
			var sum, sum1 float64
			for _, q := range qs {
				got := x.Search(q, k, nprobe, nil)
				want := brute(vs, m, q, k, nil)
				if len(got) != k {
					t.Fatalf("got %d hits", len(got))
				}
				for _, h := range got {
					s := score(m, q, vs.Vector(uint32(h.ID)))
					if d := s - h.Score; d > 1e-3*(1+abs(s)) || -d > 1e-3*(1+abs(s)) {
						t.Fatalf("row %d score %v, want %v", h.ID, h.Score, s)
					}
				}
				sum += recall(got, want)
				sum1 += recall(x.Search(q, k, 1, nil), want)
			}
			r := sum / float64(len(qs))
			t.Logf("%v recall@10 nprobe=%d: %.4f (nprobe=1: %.4f)", m, nprobe, r, sum1/float64(len(qs)))
			if r < 0.95 {
				t.Fatalf("recall@10 = %.4f < 0.95", r)
			}
			// nprobe = nlist is exact.
			for _, q := range qs[:10] {
				got, want := x.Search(q, k, nlist, nil), brute(vs, m, q, k, nil)
				if recall(got, want) != 1 {
					t.Fatalf("nprobe=nlist not exact: %v vs %v", got, want)
				}
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
	const n, dim, k = 3000, 32, 10
	vs := mixture(n, dim, 20, 3)
	qs := queries(30, dim, 20, 4)
	r := rand.New(rand.NewPCG(5, 5))
	for _, m := range metrics {
		x := build(t, vs, m, 32, 2)
		deleted := map[uint32]bool{}
		for i := 0; i < n/5; i++ {
			id := uint32(r.IntN(n))
			x.Delete(id)
			deleted[id] = true
		}
		x.Delete(n + 1000) // not added: no-op
		if x.Len() != n-len(deleted) {
			t.Fatalf("Len %d want %d", x.Len(), n-len(deleted))
		}
		for _, frac := range []float64{1, 0.5, 0.05, 0.005, 0.001} {
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
			for _, q := range qs {
				got := x.Search(q, k, 4, allow)
				if len(got) != min(k, live) {
					t.Fatalf("%v frac %v: got %d hits, want %d", m, frac, len(got), min(k, live))
				}
				for _, h := range got {
					if !keep(uint32(h.ID)) {
						t.Fatalf("%v frac %v: excluded row %d returned", m, frac, h.ID)
					}
				}
				if frac <= 0.005 {
					// Too few allowed rows in 4 lists: more lists are probed, up to
					// all of them (exact).
					want := brute(vs, m, q, k, keep)
					for i := range got {
						if got[i].ID != want[i].ID {
							t.Fatalf("%v frac %v: hit %d = %v want %v", m, frac, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

func TestEdgeCases(t *testing.T) {
	vs := mixture(50, 4, 2, 1)
	x, err := New(Config{Metric: distance.L2, Nlist: 100, Seed: 1}, vs)
	if err != nil {
		t.Fatal(err)
	}
	if x.Search(vs.Vector(0), 3, 1, nil) != nil {
		t.Fatal("untrained index returned hits")
	}
	if err := x.Add(0); !errors.Is(err, merr.ErrParameterInvalid) {
		t.Fatalf("add before train: %v", err)
	}
	// Fewer rows than lists: trains, some lists stay empty.
	if err := x.Train(50, 2); err != nil {
		t.Fatal(err)
	}
	if err := x.Train(50, 2); err == nil {
		t.Fatal("second Train accepted")
	}
	if err := x.Add(7); err != nil {
		t.Fatal(err)
	}
	if err := x.Add(7); !errors.Is(err, merr.ErrParameterInvalid) {
		t.Fatalf("duplicate add: %v", err)
	}
	if err := x.AddAll(50, 3); err != nil {
		t.Fatal(err)
	}
	if x.Len() != 50 {
		t.Fatalf("Len %d", x.Len())
	}
	got := x.Search(vs.Vector(9), 5, 1, nil)
	if len(got) != 5 || got[0].ID != 9 {
		t.Fatalf("got %v", got)
	}
	if x.Search([]float32{1}, 5, 1, nil) != nil {
		t.Fatal("wrong dimension accepted")
	}
	if _, err := New(Config{Metric: distance.L2, Nlist: 0}, vs); !errors.Is(err, merr.ErrParameterInvalid) {
		t.Fatalf("nlist 0: %v", err)
	}
}

func TestParseParams(t *testing.T) {
	cfg, err := ParseParams(map[string]string{"nlist": "1024", "metric_type": "IP"})
	if err != nil || cfg.Nlist != 1024 || cfg.Metric != distance.IP {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, p := range []map[string]string{{"nlist": "0"}, {"nlist": "65537"}, {"nlist": "x"}, {"metric_type": "JACCARD"}} {
		if _, err := ParseParams(p); !errors.Is(err, merr.ErrParameterInvalid) {
			t.Errorf("%v: %v", p, err)
		}
	}
	for _, tc := range []struct {
		p     map[string]string
		nlist int
		np    int
		ok    bool
	}{
		{nil, 128, 8, true}, {nil, 4, 4, true}, {map[string]string{"nprobe": "16"}, 128, 16, true},
		{map[string]string{"nprobe": "0"}, 128, 0, false}, {map[string]string{"nprobe": "129"}, 128, 0, false},
		{map[string]string{"nprobe": "1.5"}, 128, 0, false},
	} {
		np, err := ParseSearchParams(tc.p, tc.nlist)
		if (err == nil) != tc.ok || np != tc.np {
			t.Errorf("%v nlist %d: %d %v", tc.p, tc.nlist, np, err)
		}
		if err != nil && !errors.Is(err, merr.ErrParameterInvalid) {
			t.Errorf("not ErrParameterInvalid: %v", err)
		}
	}
}

func TestPersistRoundTrip(t *testing.T) {
	const n, dim, k = 2000, 16, 10
	vs := mixture(n, dim, 10, 11)
	qs := queries(20, dim, 10, 12)
	for _, m := range metrics {
		x, err := New(Config{Metric: m, Nlist: 40, Seed: 4}, vs)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Train(n, 2); err != nil {
			t.Fatal(err)
		}
		if err := x.AddAll(n-10, 2); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i += 9 {
			x.Delete(uint32(i))
		}
		var buf bytes.Buffer
		wn, err := x.WriteTo(&buf)
		if err != nil || wn != int64(buf.Len()) {
			t.Fatalf("WriteTo %d %v (%d)", wn, err, buf.Len())
		}
		y, err := Load(bytes.NewReader(buf.Bytes()), vs)
		if err != nil {
			t.Fatal(err)
		}
		if y.Len() != x.Len() || y.Config() != x.Config() {
			t.Fatalf("Len %d/%d cfg %+v/%+v", y.Len(), x.Len(), y.Config(), x.Config())
		}
		for _, q := range qs {
			for _, a := range []func(uint32) bool{nil, func(id uint32) bool { return id%3 == 0 }} {
				if g, w := y.Search(q, k, 5, a), x.Search(q, k, 5, a); fmt.Sprint(g) != fmt.Sprint(w) {
					t.Fatalf("%v: loaded %v original %v", m, g, w)
				}
			}
		}
		// A loaded index accepts new rows.
		if err := y.Add(n - 1); err != nil {
			t.Fatal(err)
		}
		only := func(id uint32) bool { return id == n-1 }
		if got := y.Search(vs.Vector(n-1), 1, 1, only); len(got) != 1 || got[0].ID != n-1 {
			t.Fatalf("added row not found: %v", got)
		}
	}
}

func smallFile(t testing.TB) ([]byte, *chunkVecs) {
	vs := mixture(80, 4, 3, 13)
	x := build(t, vs, distance.Cosine, 6, 1)
	x.Delete(3)
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), vs
}

func TestLoadCorrupt(t *testing.T) {
	file, vs := smallFile(t)
	if _, err := Load(bytes.NewReader(file), vs); err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(file); cut++ {
		if _, err := Load(bytes.NewReader(file[:cut]), vs); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: %v", cut, err)
		}
	}
	r := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 300; i++ {
		b := bytes.Clone(file)
		b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
		if _, err := Load(bytes.NewReader(b), vs); err == nil {
			t.Fatal("corrupted file accepted")
		}
	}
}

// FuzzLoad: Load never panics; what it accepts can be searched.
func FuzzLoad(f *testing.F) {
	file, vs := smallFile(f)
	f.Add(file)
	f.Add(file[:60])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > headerSize+4 && b[len(b)-1]&1 == 0 {
			b = bytes.Clone(b[:len(b)-4])
			sum := crc32.Checksum(b, fileutil.CastagnoliTable)
			b = append(b, byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24))
		}
		x, err := Load(bytes.NewReader(b), vs)
		if err != nil {
			return
		}
		x.Search(vs.Vector(1), 5, 3, nil)
		x.Search(vs.Vector(2), 5, 2, func(id uint32) bool { return id%2 == 0 })
		x.Delete(4)
	})
}

func TestConcurrentAddSearchDelete(t *testing.T) {
	const n, dim, k = 2000, 16, 5
	vs := mixture(n, dim, 8, 21)
	qs := queries(40, dim, 8, 22)
	for _, m := range metrics {
		x, err := New(Config{Metric: m, Nlist: 16, Seed: 1}, vs)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Train(500, 2); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(4)
		go func() {
			defer wg.Done()
			// Races with AddAll: whichever claims a row first adds it; the
			// other gets "already added".
			for i := 0; i < n; i += 2 {
				if err := x.Add(uint32(i)); err != nil && !errors.Is(err, merr.ErrParameterInvalid) {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			if err := x.AddAll(n, 2); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				for _, h := range x.Search(qs[i%len(qs)], k, 4, func(id uint32) bool { return id%2 == 1 }) {
					if h.ID%2 != 1 {
						t.Errorf("filtered row %d returned", h.ID)
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < n; i += 11 {
				x.Delete(uint32(i))
			}
		}()
		wg.Wait()
		if got := x.nAdded.Load(); got != n {
			t.Fatalf("added %d rows, want %d", got, n)
		}
		for i := 0; i < n; i += 11 {
			x.Delete(uint32(i))
		}
		for _, q := range qs {
			for _, h := range x.Search(q, k, 4, nil) {
				if h.ID%11 == 0 {
					t.Fatalf("deleted row %d returned", h.ID)
				}
			}
		}
	}
}

// TestProbesMoreListsWhenShort: with ~2 rows per list, nprobe=1 still
// returns k rows (more lists are probed, best centroids first), and with
// every row deleted but 3, exactly those 3.
func TestProbesMoreListsWhenShort(t *testing.T) {
	vs := mixture(200, 8, 4, 41)
	x := build(t, vs, distance.L2, 100, 1)
	for _, q := range queries(10, 8, 4, 42) {
		got := x.Search(q, 10, 1, nil)
		if len(got) != 10 {
			t.Fatalf("got %d hits", len(got))
		}
		if r := recall(got, brute(vs, distance.L2, q, 10, nil)); r < 0.5 {
			t.Fatalf("recall %.2f", r)
		}
	}
	for i := 3; i < 200; i++ {
		x.Delete(uint32(i))
	}
	if got := x.Search(vs.Vector(0), 10, 1, nil); len(got) != 3 {
		t.Fatalf("got %v", got)
	}
}
