package replication

import (
	"testing"

	"github.com/tandem-db/tandem/internal/engine"
)

func hist(pairs ...uint64) []engine.EpochStart {
	var h []engine.EpochStart
	for i := 0; i+1 < len(pairs); i += 2 {
		h = append(h, engine.EpochStart{Epoch: pairs[i], LSN: pairs[i+1]})
	}
	return h
}

func TestDivergencePoint(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fh    []engine.EpochStart
		fLast uint64
		lh    []engine.EpochStart
		lLast uint64
		want  uint64
		cut   bool
	}{
		{"agree, follower behind", hist(1, 1), 5, hist(1, 1), 10, 5, false},
		{"agree, equal", hist(1, 1, 2, 6), 9, hist(1, 1, 2, 6), 9, 9, false},
		{"agree, leader in newer epoch", hist(1, 1), 5, hist(1, 1, 2, 6), 10, 5, false},
		{"follower ahead in old epoch", hist(1, 1), 8, hist(1, 1, 2, 6), 10, 5, true},
		{"diverge mid-epoch, both moved on", hist(1, 1, 2, 4), 9, hist(1, 1, 3, 7), 12, 3, true},
		{"follower ahead in old epoch, before leader's start", hist(1, 1, 2, 4), 7, hist(1, 1, 3, 4), 9, 3, true},
		{"follower epoch unknown to leader", hist(1, 1, 2, 11), 15, hist(1, 1, 3, 11), 20, 10, true},
		{"follower ahead in the leader's epoch", hist(2, 1), 12, hist(2, 1), 10, 10, true},
		{"follower empty", nil, 0, hist(1, 1, 2, 6), 10, 0, false},
		{"follower empty with history", hist(1, 1), 0, hist(1, 1), 10, 0, false},
		{"leader empty", hist(1, 1), 4, nil, 0, 0, true},
		{"no common epoch", hist(1, 1), 4, hist(2, 1), 9, 0, true},
		{"standalone records before any epoch start", nil, 7, hist(1, 6), 10, 5, true},
		{"standalone logs agree", nil, 7, nil, 9, 7, false},
		{"same epoch number, different start", hist(1, 1, 2, 5), 8, hist(1, 1, 2, 7), 9, 4, true},
		{"follower epoch started past its last lsn ignored", hist(1, 1), 3, hist(1, 1, 2, 4), 9, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DivergencePoint(tc.fh, tc.fLast, tc.lh, tc.lLast)
			if got != tc.want {
				t.Fatalf("DivergencePoint = %d, want %d", got, tc.want)
			}
			if cut := got < tc.fLast; cut != tc.cut {
				t.Fatalf("cut = %v, want %v", cut, tc.cut)
			}
		})
	}
}

func TestFrameRoundTrip(t *testing.T) {
	frames := []*frame{
		{Kind: kindHello, Epoch: 3, Hello: hello{Group: "g", NodeID: "n1", Epoch: 3, LastEpoch: 2, LastLSN: 9, History: hist(1, 1, 2, 5)}},
		{Kind: kindAck, Epoch: 3, Ack: ack{Durable: 7, Applied: 8}},
		{Kind: kindCut, Epoch: 4, After: 11},
		{Kind: kindNeedSnapshot, Epoch: 4, After: 100},
		{Kind: kindRecords, Epoch: 4, Records: nil},
		{Kind: kindHello, Epoch: 3, Hello: hello{NodeID: "n2", Epoch: 3, LastLSN: 4, Flags: helloWantSnapshot}},
		{Kind: kindHello, Epoch: 3, Hello: hello{NodeID: "n3", Epoch: 3, LastLSN: 9, Flags: helloDurable, DurableLSN: 7}},
		{Kind: kindHello, Epoch: 3, Hello: hello{NodeID: "n3", Epoch: 3, LastLSN: 9, Flags: helloWantSnapshot | helloDurable, DurableLSN: 9}},
		{Kind: kindSnapshotBegin, Epoch: 5, Begin: snapBegin{LSN: 40, Total: 300, History: hist(1, 1, 5, 30),
			Files: []snapFile{{Name: "MANIFEST", Size: 100}, {Name: "segments/00000000000000000001.seg", Size: 200}}}},
		{Kind: kindSnapshotChunk, Epoch: 5, Chunk: snapChunk{File: 1, Offset: 64, Data: []byte("chunk data")}},
		{Kind: kindSnapshotEnd, Epoch: 5, After: 40},
	}
	rec := frame{Kind: kindRecords, Epoch: 4}
	rec.Records = append(rec.Records, recordOf(1, 1, 10, "abc"), recordOf(4, 2, 11, ""))
	frames = append(frames, &rec)
	for _, f := range frames {
		b := encodeFrame(f)
		g, err := decodeFrame(b)
		if err != nil {
			t.Fatalf("kind %d: %v", f.Kind, err)
		}
		if string(encodeFrame(g)) != string(b) {
			t.Fatalf("kind %d: round trip differs: %+v vs %+v", f.Kind, g, f)
		}
		for i := range b {
			c := append([]byte(nil), b...)
			c[i] ^= 0x40
			if _, err := decodeFrame(c); err == nil {
				t.Fatalf("kind %d: corrupt byte %d accepted", f.Kind, i)
			}
		}
		if _, err := decodeFrame(b[:len(b)-1]); err == nil {
			t.Fatalf("kind %d: truncated frame accepted", f.Kind)
		}
	}
}
