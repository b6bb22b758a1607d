//go:build linux

package distance

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestKernelsStayInBounds places vectors so that they end exactly at an
// inaccessible page: a kernel that reads even one float past the end of its
// arguments (tail handling) faults.
func TestKernelsStayInBounds(t *testing.T) {
	page := unix.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer unix.Munmap(mem)
	if err := unix.Mprotect(mem[page:], unix.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	floats := unsafe.Slice((*float32)(unsafe.Pointer(&mem[0])), page/4)
	for i := range floats {
		floats[i] = float32(i%7) - 3
	}
	end := len(floats)
	for _, ks := range kernelSets() {
		for dim := 1; dim <= 70; dim++ {
			a := floats[end-dim:]
			b := floats[end-2*dim : end-dim]
			want := l2Ref(a, b)
			if got := ks.l2(b, a); !near(got, want, want) {
				t.Errorf("%s l2 dim=%d: got %v want %v", ks.name, dim, got, want)
			}
			if got := ks.dot(b, a); !near(got, dotRef(a, b), absDot(a, b)) {
				t.Errorf("%s dot dim=%d: got %v", ks.name, dim, got)
			}
			// Batch: the block's last row ends at the guard page.
			n := 3
			block := floats[end-n*dim:]
			q := floats[:dim]
			out := make([]float32, n)
			ks.l2Batch(q, block, dim, out)
			ks.dotBatch(q, block, dim, out)
		}
	}
}
