package quant

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/index/flat"
	"github.com/tandem-db/tandem/internal/index/hnsw"
)

type memVecs struct {
	dim  int
	data []float32
}

func (m *memVecs) Dim() int                   { return m.dim }
func (m *memVecs) Vector(id uint32) []float32 { return m.data[int(id)*m.dim : (int(id)+1)*m.dim] }

// clustered returns n seeded rows around 20 centres.
func clustered(n, dim int, seed uint64) *memVecs {
	r := rand.New(rand.NewPCG(seed, 1))
	centres := make([]float32, 20*dim)
	for i := range centres {
		centres[i] = r.Float32()*4 - 2
	}
	v := &memVecs{dim: dim, data: make([]float32, n*dim)}
	for i := range n {
		c := r.IntN(20)
		for j := range dim {
			v.data[i*dim+j] = centres[c*dim+j] + float32(r.NormFloat64())*0.5
		}
	}
	return v
}

func exactTop(v *memVecs, n int, q []float32, k int, m distance.Metric) map[int64]bool {
	t := flat.NewTopK(k, m)
	for i := range n {
		x := v.Vector(uint32(i))
		var s float32
		switch m {
		case distance.L2:
			s = distance.L2Squared(q, x)
		case distance.IP:
			s = distance.Dot(q, x)
		default:
			s = distance.Dot(q, x) / (distance.Norm(q) * distance.Norm(x))
		}
		t.Push(int64(i), s)
	}
	out := map[int64]bool{}
	for _, h := range t.Results() {
		out[h.ID] = true
	}
	return out
}

func recall(t *testing.T, v *memVecs, n int, m distance.Metric, search func(q []float32) []flat.Hit) float64 {
	t.Helper()
	r := rand.New(rand.NewPCG(99, 2))
	hits, total := 0, 0
	for range 50 {
		q := v.Vector(uint32(r.IntN(n)))
		q = append([]float32(nil), q...)
		for j := range q {
			q[j] += float32(r.NormFloat64()) * 0.1
		}
		gt := exactTop(v, n, q, 10, m)
		res := search(q)
		for _, h := range res {
			if gt[h.ID] {
				hits++
			}
		}
		total += 10
	}
	return float64(hits) / float64(total)
}

func TestIVFRecall(t *testing.T) {
	const n, dim = 3000, 32
	v := clustered(n, dim, 7)
	for _, tc := range []struct {
		name string
		cfg  IVFConfig
		min  float64
	}{
		{"sq8-l2", IVFConfig{Kind: KindSQ8, Metric: distance.L2, Nlist: 32}, 0.9},
		{"sq8-ip", IVFConfig{Kind: KindSQ8, Metric: distance.IP, Nlist: 32}, 0.9},
		{"sq8-cos", IVFConfig{Kind: KindSQ8, Metric: distance.Cosine, Nlist: 32}, 0.9},
		{"pq-l2", IVFConfig{Kind: KindPQ, Metric: distance.L2, Nlist: 32, M: 8, Nbits: 8}, 0.5},
		{"pq-cos", IVFConfig{Kind: KindPQ, Metric: distance.Cosine, Nlist: 32, M: 8, Nbits: 8}, 0.5},
		{"scann-l2", IVFConfig{Kind: KindPQ, Metric: distance.L2, Nlist: 32, M: 16, Nbits: 4, Refine: true}, 0.9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Seed = 5
			x, err := BuildIVF(tc.cfg, v, n, 2)
			if err != nil {
				t.Fatal(err)
			}
			rc := recall(t, v, n, tc.cfg.Metric, func(q []float32) []flat.Hit { return x.Search(q, 10, 16, 40, nil) })
			if rc < tc.min {
				t.Fatalf("recall %.3f < %.2f", rc, tc.min)
			}
			// Persistence round trip: same results.
			var buf bytes.Buffer
			if _, err := x.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			raw := buf.Bytes()
			y, err := LoadIVF(bytes.NewReader(raw), v)
			if err != nil {
				t.Fatal(err)
			}
			q := v.Vector(3)
			a, b := x.Search(q, 10, 4, 40, nil), y.Search(q, 10, 4, 40, nil)
			if len(a) != len(b) {
				t.Fatalf("reloaded: %d hits vs %d", len(b), len(a))
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("reloaded hit %d: %v vs %v", i, b[i], a[i])
				}
			}
			// Determinism: a second build with the same seed is byte-identical.
			z, err := BuildIVF(tc.cfg, v, n, 1)
			if err != nil {
				t.Fatal(err)
			}
			var buf2 bytes.Buffer
			z.WriteTo(&buf2)
			if !bytes.Equal(raw, buf2.Bytes()) {
				t.Fatal("rebuild with the same seed differs")
			}
			// Corruption is detected.
			bad := append([]byte(nil), raw...)
			bad[len(bad)/2] ^= 0x40
			if _, err := LoadIVF(bytes.NewReader(bad), v); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("corrupt file: %v", err)
			}
			// Filter: only even rows.
			for _, h := range x.Search(q, 10, 8, 40, func(id uint32) bool { return id%2 == 0 }) {
				if h.ID%2 != 0 {
					t.Fatalf("filtered search returned row %d", h.ID)
				}
			}
		})
	}
}

func TestHNSWQRecall(t *testing.T) {
	const n, dim = 3000, 32
	v := clustered(n, dim, 8)
	for _, tc := range []struct {
		name string
		cfg  HNSWConfig
		min  float64
	}{
		{"sq8-l2", HNSWConfig{Kind: KindSQ8}, 0.9},
		{"sq8-cos-refine", HNSWConfig{Kind: KindSQ8, Refine: true}, 0.95},
		{"pq-l2-refine", HNSWConfig{Kind: KindPQ, M: 8, Nbits: 8, Refine: true}, 0.85},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := hnsw.DefaultConfig()
			g.Seed = 3
			if tc.name[len(tc.name)-2:] == "l2" || tc.cfg.Kind == KindPQ {
				g.Metric = distance.L2
			}
			tc.cfg.Graph = g
			x, err := BuildHNSW(tc.cfg, v, n, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			rc := recall(t, v, n, g.Metric, func(q []float32) []flat.Hit { return x.Search(q, 10, 64, 3, nil) })
			if rc < tc.min {
				t.Fatalf("recall %.3f < %.2f", rc, tc.min)
			}
			var buf bytes.Buffer
			if _, err := x.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			y, err := LoadHNSW(bytes.NewReader(buf.Bytes()), v)
			if err != nil {
				t.Fatal(err)
			}
			q := v.Vector(11)
			a, b := x.Search(q, 10, 32, 3, nil), y.Search(q, 10, 32, 3, nil)
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("reloaded hit %d: %v vs %v", i, b[i], a[i])
				}
			}
			bad := append([]byte(nil), buf.Bytes()...)
			bad[len(bad)-10] ^= 1
			if _, err := LoadHNSW(bytes.NewReader(bad), v); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("corrupt file: %v", err)
			}
			for _, h := range x.Search(q, 10, 32, 3, func(id uint32) bool { return id%3 == 0 }) {
				if h.ID%3 != 0 {
					t.Fatalf("filtered search returned row %d", h.ID)
				}
			}
		})
	}
}

func FuzzLoadIVF(f *testing.F) {
	v := clustered(300, 8, 1)
	x, _ := BuildIVF(IVFConfig{Kind: KindSQ8, Metric: distance.L2, Nlist: 4, Seed: 1}, v, 300, 1)
	var buf bytes.Buffer
	x.WriteTo(&buf)
	f.Add(buf.Bytes())
	y, _ := BuildIVF(IVFConfig{Kind: KindPQ, Metric: distance.IP, Nlist: 4, M: 4, Nbits: 4, Seed: 1}, v, 300, 1)
	buf.Reset()
	y.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		if x, err := LoadIVF(bytes.NewReader(b), v); err == nil {
			x.Search(v.Vector(0), 5, 2, 5, nil)
		}
	})
}
