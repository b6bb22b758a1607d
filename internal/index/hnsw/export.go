package hnsw

// Read access to the graph for the quantized HNSW indexes (package hnswq),
// which walk it with their own (code) distances.

// Entry returns the entry point and its level; ok is false when empty.
func (x *Index) Entry() (ep uint32, maxLevel int, ok bool) { return x.loadEntry() }

// Neighbors returns the links of node id at level (shared; do not modify).
// The index must be quiescent (no concurrent Add).
func (x *Index) Neighbors(id uint32, level int) []uint32 {
	if level > int(x.levels[id]) {
		return nil
	}
	l := x.list(id, level)
	return l[1 : 1+l[0]]
}
