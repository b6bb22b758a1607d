package ivf

// AllowSet returns an allow function (for Search) that admits row id when
// bit id of bits is set (bit id is bits[id/64]>>(id%64)&1); ids beyond the
// bitset are not admitted. bits must not change during the search.
func AllowSet(bits []uint64) func(id uint32) bool {
	return func(id uint32) bool {
		w := int(id >> 6)
		return w < len(bits) && bits[w]&(1<<(id&63)) != 0
	}
}

// DenySet returns an allow function that admits row id unless bit id of
// bits is set (for example a segment's delete bitmap); ids beyond the bitset
// are admitted. bits must not change during the search.
func DenySet(bits []uint64) func(id uint32) bool {
	return func(id uint32) bool {
		w := int(id >> 6)
		return w >= len(bits) || bits[w]&(1<<(id&63)) == 0
	}
}
