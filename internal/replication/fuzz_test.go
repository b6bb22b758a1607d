package replication

import "testing"

// FuzzDecodeFrame feeds arbitrary bytes to the replication wire decoder
// (what a peer receives from the network): it must return a frame or an
// error, never panic or allocate without bound.
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4})
	f.Add(make([]byte, 64))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err == nil && fr == nil {
			t.Fatal("nil frame without error")
		}
	})
}
