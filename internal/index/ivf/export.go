package ivf

// Read access for the quantized IVF indexes (package ivfq), which train
// their coarse quantizer with this package and then keep only centroids
// and id lists.

// Centroids returns the nlist*dim centroids (unit vectors for Cosine);
// nil before Train. The slice must not be modified.
func (x *Index) Centroids() []float32 { return x.centroids }

// ListIDs returns a copy of list c's row ids, in insertion order.
func (x *Index) ListIDs(c int) []uint32 {
	l := &x.lists[c]
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]uint32(nil), l.ids...)
}
