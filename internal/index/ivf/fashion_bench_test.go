package ivf

import (
	"os"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/dataset"
	"github.com/tandem-db/tandem/internal/index/distance"
)

const fashionDir = "/work/data/fashion-mnist"

type rows struct{ v *dataset.Vectors }

func (r rows) Dim() int { return r.v.Dim }
func (r rows) Vector(id uint32) []float32 {
	o := int(id) * r.v.Dim
	return r.v.Data[o : o+r.v.Dim : o+r.v.Dim]
}

// TestTuneAssign (env TUNE=1) times two k-means iterations on
// Fashion-MNIST (nlist 1024, 2 threads) for several tilings.
func TestTuneAssign(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	base, err := dataset.ReadFvecs(fashionDir+"/base.fvecs", 0)
	if err != nil {
		t.Skip(err)
	}
	for _, tc := range [][2]int{{1, 1024}, {32, 8}, {16, 8}, {64, 8}, {32, 4}, {32, 16}, {64, 4}} {
		assignTileT, assignBlockC = tc[0], tc[1]
		x, _ := New(Config{Metric: distance.L2, Nlist: 1024, Seed: 1, Iters: 2}, rows{base})
		t0 := time.Now()
		if err := x.Train(base.N(), 2); err != nil {
			t.Fatal(err)
		}
		t.Logf("T=%d C=%d: %v", tc[0], tc[1], time.Since(t0))
	}
}

// TestTuneScan (env TUNE=1) times nprobe=16 searches for prefetch settings.
func TestTuneScan(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip()
	}
	base, err := dataset.ReadFvecs(fashionDir+"/base.fvecs", 0)
	if err != nil {
		t.Skip(err)
	}
	q, _ := dataset.ReadFvecs(fashionDir+"/query.fvecs", 1000)
	x, _ := New(Config{Metric: distance.L2, Nlist: 1024, Seed: 1, Iters: 4}, rows{base})
	x.Train(base.N(), 2)
	x.AddAll(base.N(), 2)
	cfgs := [][2]int{{0, 0}, {1, 784}, {2, 64}, {4, 64}, {8, 64}, {4, 784}, {8, 128}, {16, 64}}
	best := make([]time.Duration, len(cfgs))
	for round := 0; round < 4; round++ {
		for i, c := range cfgs {
			prefetchAhead, prefetchFloats = c[0], c[1]
			t0 := time.Now()
			for j := 0; j < q.N(); j++ {
				x.Search(q.Row(j), 10, 16, nil)
			}
			if d := time.Since(t0); best[i] == 0 || d < best[i] {
				best[i] = d
			}
		}
	}
	for i, c := range cfgs {
		t.Logf("ahead=%d floats=%d: %.1f us/query", c[0], c[1], float64(best[i].Microseconds())/float64(q.N()))
	}
}
