package quant

import (
	"math"
	"math/rand/v2"
	"sync"

	"github.com/tandem-db/tandem/internal/index/distance"
)

// PQ training bounds.
const (
	// PQSamplePerCentroid bounds the training sample at this many rows per
	// centroid (FAISS uses 256; fewer keeps builds short on small machines).
	PQSamplePerCentroid = 64
	// PQIters is the number of Lloyd iterations per sub-space.
	PQIters = 12
)

// PQ is a trained product quantizer.
type PQ struct {
	Dim, M, Nbits int
	Dsub, Ksub    int
	// Codebooks holds M blocks of Ksub*Dsub floats (centroid after centroid).
	Codebooks []float32
}

// TrainPQ trains m sub-quantizers of 2^nbits centroids on the n rows
// given by row(i) (seeded sample), using threads goroutines.
func TrainPQ(dim, m, nbits int, n int, row func(i int) []float32, seed uint64, threads int) *PQ {
	p := &PQ{Dim: dim, M: m, Nbits: nbits, Dsub: dim / m, Ksub: 1 << nbits}
	p.Codebooks = make([]float32, m*p.Ksub*p.Dsub)
	r := rand.New(rand.NewPCG(seed, 0x9e37))
	s := min(n, PQSamplePerCentroid*p.Ksub)
	perm := r.Perm(n)[:s]
	threads = max(1, threads)
	var wg sync.WaitGroup
	next := make(chan int, m)
	for j := range m {
		next <- j
	}
	close(next)
	for range min(threads, m) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := make([]float32, s*p.Dsub)
			for j := range next {
				for i, id := range perm {
					copy(sub[i*p.Dsub:(i+1)*p.Dsub], row(id)[j*p.Dsub:(j+1)*p.Dsub])
				}
				kmeans(sub, s, p.Dsub, p.Ksub, PQIters, seed^uint64(j+1)*0x9e3779b97f4a7c15, p.Codebooks[j*p.Ksub*p.Dsub:(j+1)*p.Ksub*p.Dsub])
			}
		}()
	}
	wg.Wait()
	return p
}

// kmeans runs seeded Lloyd iterations on n points of dim d, writing k
// centroids into cent. Empty clusters are re-seeded with a random point.
func kmeans(pts []float32, n, d, k, iters int, seed uint64, cent []float32) {
	r := rand.New(rand.NewPCG(seed, 7))
	if n == 0 {
		return
	}
	order := r.Perm(n)
	for c := range k {
		i := order[c%n]
		copy(cent[c*d:(c+1)*d], pts[i*d:(i+1)*d])
	}
	assign := make([]int, n)
	dist := make([]float32, k)
	sums := make([]float64, k*d)
	counts := make([]int, k)
	for range iters {
		for i := range n {
			distance.L2SquaredBatch(pts[i*d:(i+1)*d], cent, d, dist)
			best, bd := 0, float32(math.Inf(1))
			for c, x := range dist {
				if x < bd {
					best, bd = c, x
				}
			}
			assign[i] = best
		}
		clear(sums)
		clear(counts)
		for i, c := range assign {
			counts[c]++
			for t := range d {
				sums[c*d+t] += float64(pts[i*d+t])
			}
		}
		for c := range k {
			if counts[c] == 0 {
				i := r.IntN(n)
				copy(cent[c*d:(c+1)*d], pts[i*d:(i+1)*d])
				continue
			}
			for t := range d {
				cent[c*d+t] = float32(sums[c*d+t] / float64(counts[c]))
			}
		}
	}
}

// codebook returns sub-quantizer j's centroids.
func (p *PQ) codebook(j int) []float32 {
	n := p.Ksub * p.Dsub
	return p.Codebooks[j*n : (j+1)*n]
}

// Encode writes the M-byte code of v into dst; scratch has len >= Ksub.
func (p *PQ) Encode(v []float32, dst []byte, scratch []float32) {
	scratch = scratch[:p.Ksub]
	for j := range p.M {
		distance.L2SquaredBatch(v[j*p.Dsub:(j+1)*p.Dsub], p.codebook(j), p.Dsub, scratch)
		best, bd := 0, float32(math.Inf(1))
		for c, x := range scratch {
			if x < bd {
				best, bd = c, x
			}
		}
		dst[j] = byte(best)
	}
}

// Decode writes code c's vector into dst (len Dim).
func (p *PQ) Decode(c []byte, dst []float32) {
	for j := range p.M {
		copy(dst[j*p.Dsub:(j+1)*p.Dsub], p.codebook(j)[int(c[j])*p.Dsub:])
	}
}

// TableL2 fills table (len M*Ksub) with the squared L2 distance of each
// sub-vector of q to each centroid: SumLookup(table, Ksub, code) is then
// ||q - decode(code)||^2.
func (p *PQ) TableL2(q []float32, table []float32) {
	for j := range p.M {
		distance.L2SquaredBatch(q[j*p.Dsub:(j+1)*p.Dsub], p.codebook(j), p.Dsub, table[j*p.Ksub:(j+1)*p.Ksub])
	}
}

// TableIP fills table with inner products: SumLookup is q·decode(code).
func (p *PQ) TableIP(q []float32, table []float32) {
	for j := range p.M {
		distance.DotBatch(q[j*p.Dsub:(j+1)*p.Dsub], p.codebook(j), p.Dsub, table[j*p.Ksub:(j+1)*p.Ksub])
	}
}

// AppendTo appends: u32 dim, m, nbits, then the codebooks as f32.
func (p *PQ) AppendTo(b []byte) []byte {
	b = appendU32(b, uint32(p.Dim))
	b = appendU32(b, uint32(p.M))
	b = appendU32(b, uint32(p.Nbits))
	return appendF32s(b, p.Codebooks)
}

// MemoryBytes is the codec's size.
func (p *PQ) MemoryBytes() int64 { return int64(4 * len(p.Codebooks)) }

func readPQ(r *reader, dim int) *PQ {
	d, m, nbits := int(r.u32()), int(r.u32()), int(r.u32())
	if r.err != nil {
		return nil
	}
	if d != dim || m < 1 || m > dim || dim%m != 0 || nbits < 1 || nbits > 8 {
		r.err = corrupt("pq dim=%d m=%d nbits=%d (want dim %d)", d, m, nbits, dim)
		return nil
	}
	p := &PQ{Dim: dim, M: m, Nbits: nbits, Dsub: dim / m, Ksub: 1 << nbits}
	p.Codebooks = r.f32s(m * p.Ksub * p.Dsub)
	if r.err != nil {
		return nil
	}
	return p
}
