//go:build !amd64 || noasm

package hnsw

// prefetch is a no-op without the amd64 assembly.
func prefetch(v []float32) {}
