package hnsw

import (
	"math/rand/v2"
	"testing"

	"github.com/tandem-db/tandem/internal/index/distance"
)

func benchL2(b *testing.B, rows int) {
	const dim = 784
	data := make([]float32, 60000*dim)
	for i := range data {
		data[i] = float32(i % 255)
	}
	r := rand.New(rand.NewPCG(1, 1))
	ids := make([]int, 4096)
	for i := range ids {
		ids[i] = r.IntN(rows)
	}
	q := data[:dim]
	b.ResetTimer()
	var s float32
	for i := 0; i < b.N; i++ {
		id := ids[i&4095]
		s += distance.L2Squared(q, data[id*dim:(id+1)*dim])
	}
	_ = s
}

func BenchmarkL2Hot(b *testing.B)  { benchL2(b, 32) }
func BenchmarkL2Cold(b *testing.B) { benchL2(b, 60000) }

func benchL2Pre(b *testing.B, rows int) {
	const dim = 784
	data := make([]float32, 60000*dim)
	for i := range data {
		data[i] = float32(i % 255)
	}
	r := rand.New(rand.NewPCG(1, 1))
	ids := make([]int, 4096)
	for i := range ids {
		ids[i] = r.IntN(rows)
	}
	q := data[:dim]
	b.ResetTimer()
	var s float32
	for i := 0; i < b.N; i++ {
		id := ids[i&4095]
		nx := ids[(i+1)&4095]
		prefetch(data[nx*dim : (nx+1)*dim])
		s += distance.L2Squared(q, data[id*dim:(id+1)*dim])
	}
	_ = s
}

func BenchmarkL2ColdPrefetch(b *testing.B) { benchL2Pre(b, 60000) }
func BenchmarkL2HotPrefetch(b *testing.B)  { benchL2Pre(b, 32) }

func BenchmarkL2ColdParallel(b *testing.B) {
	const dim = 784
	data := make([]float32, 60000*dim)
	for i := range data {
		data[i] = float32(i % 255)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 1))
		q := make([]float32, dim)
		var s float32
		for pb.Next() {
			id := r.IntN(60000)
			s += distance.L2Squared(q, data[id*dim:(id+1)*dim])
		}
		_ = s
	})
}
