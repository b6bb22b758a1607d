//go:build !noasm

package ivf

// prefetch asks the CPU to bring every cache line of v into L1 (a hint; it
// never faults and has no visible effect). Implemented in prefetch_amd64.s.
//
//go:noescape
func prefetch(v []float32)
