package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/fileutil"
	"github.com/tandem-db/tandem/internal/wal"
)

// Frame kinds.
const (
	kindHello        byte = 1
	kindAck          byte = 2
	kindCut          byte = 3
	kindNeedSnapshot byte = 4
	kindRecords      byte = 5
	// Snapshot transfer (active → standby).
	kindSnapshotBegin byte = 6
	kindSnapshotChunk byte = 7
	kindSnapshotEnd   byte = 8
)

// Hello flags.
const (
	// helloWantSnapshot: send a snapshot whatever the position (the
	// standby's checkpoint is past a cut point, or the active said
	// NeedSnapshot).
	helloWantSnapshot byte = 1 << 0
	// helloDurable: the standby's durable LSN (u64) follows the flags.
	// A hello without it (an older standby) gives no durable LSN: the
	// active counts nothing of that standby's as durable until its first
	// Ack.
	helloDurable byte = 1 << 1
)

// errBadFrame is wrapped by every decoding error.
var errBadFrame = errors.New("replication: bad frame")

// hello is the standby's first message.
type hello struct {
	Group, NodeID string
	Epoch         uint64 // epoch the standby follows
	LastEpoch     uint64 // epoch of the standby's last record
	LastLSN       uint64 // last applied LSN: where streaming resumes
	History       []engine.EpochStart
	// Flags (helloWantSnapshot, helloDurable); optional on the wire
	// (absent = 0).
	Flags byte
	// DurableLSN is the standby's durable (fsynced) LSN, <= LastLSN; on
	// the wire only with helloDurable (then after Flags).
	DurableLSN uint64
	// Incarnation is the standby's data dir incarnation (the sync set
	// names members node@incarnation); optional on the wire after Flags
	// (absent = "", a standby without one).
	Incarnation string
}

// snapFile is a file of a snapshot: its name and size.
type snapFile struct {
	Name string
	Size uint64
}

// snapBegin starts a snapshot.
type snapBegin struct {
	LSN     uint64 // the checkpoint's LSN
	Total   uint64 // bytes of all files
	History []engine.EpochStart
	Files   []snapFile
}

// snapChunk is a piece of file File at Offset.
type snapChunk struct {
	File   uint32
	Offset uint64
	Data   []byte
}

// ack acknowledges records.
type ack struct{ Durable, Applied uint64 }

// frame is one decoded message; exactly one of the bodies is set per kind.
type frame struct {
	Kind    byte
	Epoch   uint64 // sender's epoch
	Hello   hello
	Ack     ack
	After   uint64 // kindCut: after_lsn; kindNeedSnapshot: first available lsn; kindSnapshotEnd: lsn
	Records []wal.Record
	Begin   snapBegin
	Chunk   snapChunk
}

type wbuf struct{ b []byte }

func (w *wbuf) u8(v byte)    { w.b = append(w.b, v) }
func (w *wbuf) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *wbuf) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *wbuf) bytes(v []byte) {
	w.u32(uint32(len(v)))
	w.b = append(w.b, v...)
}

// wireFrame is an encoded frame: its bytes as a list of pieces, so that
// record payloads go out from where they are (the engine's memory) instead
// of being copied into one buffer. Read-only once built: it may be sent on
// several streams at once, and gRPC may still be writing it after SendMsg
// returned.
type wireFrame struct {
	parts [][]byte
	size  int
	// Records frames: the frame's epoch, the LSNs of the first and last
	// record, and the bytes counted for flow control (payload + 32 per
	// record).
	epoch, first, last uint64
	window             int64
}

// bytes returns the frame as one (fresh) slice.
func (w *wireFrame) bytes() []byte {
	b := make([]byte, 0, w.size)
	for _, p := range w.parts {
		b = append(b, p...)
	}
	return b
}

// inlinePayloadBytes: record payloads up to this size are copied into the
// frame's header buffer; larger ones are sent as their own piece.
const inlinePayloadBytes = 16 << 10

// recordHeaderBytes is the size of a record's header in a Records frame
// (epoch, lsn, type, payload length), before the padding.
const recordHeaderBytes = 8 + 8 + 1 + 4

// encodeRecords returns the Records frame of recs (dense LSNs) at epoch.
// Each payload starts at an offset that is a multiple of 8 from the start
// of the frame (zero padding before it), so that the receiver can decode
// it in place (float32 vectors are aliased only when aligned).
func encodeRecords(epoch uint64, recs []wal.Record) *wireFrame {
	// One buffer for everything but the large payloads, sized so that it
	// is never reallocated: the pieces cut from it stay valid.
	n := 1 + 8 + 4 + 4
	for _, r := range recs {
		n += recordHeaderBytes + 7
		if len(r.Payload) <= inlinePayloadBytes {
			n += len(r.Payload)
		}
	}
	w := &wireFrame{epoch: epoch, first: recs[0].LSN, last: recs[len(recs)-1].LSN}
	b := make([]byte, 0, n)
	b = append(b, kindRecords)
	b = binary.LittleEndian.AppendUint64(b, epoch)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(recs)))
	start, off := 0, 0 // piece of b not yet in parts; frame offset of b[0]... of b[start]
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint64(b, r.Epoch)
		b = binary.LittleEndian.AppendUint64(b, r.LSN)
		b = append(b, byte(r.Type))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Payload)))
		for (off+len(b)-start)%8 != 0 {
			b = append(b, 0)
		}
		w.window += int64(len(r.Payload)) + 32
		if len(r.Payload) <= inlinePayloadBytes {
			b = append(b, r.Payload...)
			continue
		}
		w.parts = append(w.parts, b[start:len(b):len(b)], r.Payload)
		off += len(b) - start + len(r.Payload)
		start = len(b)
	}
	// The CRC of everything before it.
	var crc uint32
	for _, p := range w.parts {
		crc = crc32.Update(crc, fileutil.CastagnoliTable, p)
	}
	crc = crc32.Update(crc, fileutil.CastagnoliTable, b[start:])
	b = binary.LittleEndian.AppendUint32(b, crc)
	w.parts = append(w.parts, b[start:])
	w.size = off + len(b) - start
	return w
}

// encodeFrame returns the wire form of f as one slice.
func encodeFrame(f *frame) []byte { return encodeWire(f).bytes() }

// encodeWire returns the wire form of f.
func encodeWire(f *frame) *wireFrame {
	if f.Kind == kindRecords && len(f.Records) > 0 {
		return encodeRecords(f.Epoch, f.Records)
	}
	w := &wbuf{}
	w.u8(f.Kind)
	w.u64(f.Epoch)
	switch f.Kind {
	case kindHello:
		h := &f.Hello
		w.bytes([]byte(h.Group))
		w.bytes([]byte(h.NodeID))
		w.u64(h.Epoch)
		w.u64(h.LastEpoch)
		w.u64(h.LastLSN)
		w.u32(uint32(len(h.History)))
		for _, m := range h.History {
			w.u64(m.Epoch)
			w.u64(m.LSN)
		}
		if h.Flags != 0 || h.Incarnation != "" {
			w.u8(h.Flags)
		}
		if h.Flags&helloDurable != 0 {
			w.u64(h.DurableLSN)
		}
		if h.Incarnation != "" {
			w.bytes([]byte(h.Incarnation))
		}
	case kindAck:
		w.u64(f.Ack.Durable)
		w.u64(f.Ack.Applied)
	case kindCut, kindNeedSnapshot, kindSnapshotEnd:
		w.u64(f.After)
	case kindSnapshotBegin:
		b := &f.Begin
		w.u64(b.LSN)
		w.u64(b.Total)
		w.u32(uint32(len(b.History)))
		for _, m := range b.History {
			w.u64(m.Epoch)
			w.u64(m.LSN)
		}
		w.u32(uint32(len(b.Files)))
		for _, sf := range b.Files {
			w.bytes([]byte(sf.Name))
			w.u64(sf.Size)
		}
	case kindSnapshotChunk:
		w.u32(f.Chunk.File)
		w.u64(f.Chunk.Offset)
		w.bytes(f.Chunk.Data)
	case kindRecords:
		w.u32(0) // no records (encodeRecords does the others)
	}
	w.u32(crc32.Checksum(w.b, fileutil.CastagnoliTable))
	return &wireFrame{parts: [][]byte{w.b}, size: len(w.b)}
}

type rbuf struct {
	b    []byte
	size int // bytes of the frame body (b is what is left of it)
	err  error
}

func (r *rbuf) need(n int) bool {
	if r.err != nil {
		return false
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("%w: truncated", errBadFrame)
		return false
	}
	return true
}

func (r *rbuf) u8() byte {
	if !r.need(1) {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *rbuf) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *rbuf) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// bytes returns the next length-prefixed bytes, aliasing the frame.
func (r *rbuf) bytes() []byte {
	n := int(r.u32())
	return r.raw(n)
}

// raw returns the next n bytes, aliasing the frame.
func (r *rbuf) raw(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// pad8 skips the zero padding up to the next frame offset that is a
// multiple of 8.
func (r *rbuf) pad8() {
	off := r.size - len(r.b)
	n := (8 - off%8) % 8
	if !r.need(n) {
		return
	}
	for _, c := range r.b[:n] {
		if c != 0 {
			r.err = fmt.Errorf("%w: nonzero padding", errBadFrame)
			return
		}
	}
	r.b = r.b[n:]
}

// count reads a list length and checks that the list can fit in what is
// left (each element takes at least min bytes).
func (r *rbuf) count(min int) int {
	n := int(r.u32())
	if r.err == nil && n*min > len(r.b) {
		r.err = fmt.Errorf("%w: list of %d does not fit", errBadFrame, n)
		return 0
	}
	return n
}

// decodeFrame parses and verifies one wire frame. Payloads and chunk data
// alias b, which must not be modified afterwards.
func decodeFrame(b []byte) (*frame, error) {
	if len(b) < 1+8+4 {
		return nil, fmt.Errorf("%w: %d bytes", errBadFrame, len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc := crc32.Checksum(body, fileutil.CastagnoliTable); crc != sum {
		return nil, fmt.Errorf("%w: crc %08x, want %08x", errBadFrame, crc, sum)
	}
	r := &rbuf{b: body, size: len(body)}
	f := &frame{Kind: r.u8(), Epoch: r.u64()}
	switch f.Kind {
	case kindHello:
		h := &f.Hello
		h.Group = string(r.bytes())
		h.NodeID = string(r.bytes())
		h.Epoch = r.u64()
		h.LastEpoch = r.u64()
		h.LastLSN = r.u64()
		n := r.count(16)
		for i := 0; i < n && r.err == nil; i++ {
			h.History = append(h.History, engine.EpochStart{Epoch: r.u64(), LSN: r.u64()})
		}
		if r.err == nil && len(r.b) > 0 {
			h.Flags = r.u8()
		}
		if h.Flags&helloDurable != 0 {
			h.DurableLSN = r.u64()
		}
		if r.err == nil && len(r.b) > 0 {
			h.Incarnation = string(r.bytes())
		}
	case kindAck:
		f.Ack.Durable = r.u64()
		f.Ack.Applied = r.u64()
	case kindCut, kindNeedSnapshot, kindSnapshotEnd:
		f.After = r.u64()
	case kindSnapshotBegin:
		b := &f.Begin
		b.LSN = r.u64()
		b.Total = r.u64()
		n := r.count(16)
		for i := 0; i < n && r.err == nil; i++ {
			b.History = append(b.History, engine.EpochStart{Epoch: r.u64(), LSN: r.u64()})
		}
		n = r.count(12)
		for i := 0; i < n && r.err == nil; i++ {
			b.Files = append(b.Files, snapFile{Name: string(r.bytes()), Size: r.u64()})
		}
	case kindSnapshotChunk:
		f.Chunk.File = r.u32()
		f.Chunk.Offset = r.u64()
		f.Chunk.Data = r.bytes()
	case kindRecords:
		n := r.count(21)
		f.Records = make([]wal.Record, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			rec := wal.Record{Epoch: r.u64(), LSN: r.u64(), Type: wal.RecordType(r.u8())}
			n := int(r.u32())
			r.pad8()
			rec.Payload = r.raw(n)
			f.Records = append(f.Records, rec)
		}
	default:
		return nil, fmt.Errorf("%w: unknown kind %d", errBadFrame, f.Kind)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadFrame, len(r.b))
	}
	return f, nil
}
