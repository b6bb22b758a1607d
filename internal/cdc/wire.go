package cdc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tandem-db/tandem/internal/wal"
)

// Message kinds (see the package comment).
const (
	kindSubscribe byte = 1 // subscriber → server
	kindAck       byte = 2 // subscriber → server
	kindHello     byte = 1 // server → subscriber
	kindBatch     byte = 2 // server → subscriber
)

// Subscribe flags.
const flagWantSnapshot byte = 1

// Record flags.
const (
	// FlagSnapshot marks a record that is part of a snapshot: its
	// position is the snapshot's and is not a resume point.
	FlagSnapshot byte = 1
	// FlagSnapshotEnd marks the last record of a snapshot (type
	// engine.RecUpstreamMark): resume after its position.
	FlagSnapshotEnd byte = 2
)

var errBadMessage = errors.New("cdc: bad message")

// Position is a position in a deployment's log: (epoch, lsn). LSN 0 is
// the empty position (a snapshot is sent).
type Position struct {
	Epoch uint64 `json:"epoch"`
	LSN   uint64 `json:"lsn"`
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Epoch, p.LSN) }

// Record is one change-stream record: an engine record type and payload
// (internal/engine/record.go and upstream.go document the formats; see
// engine.ViewRecord) at Position in the serving deployment's log.
type Record struct {
	Position
	Type    wal.RecordType
	Flags   byte
	Payload []byte
}

// Snapshot reports whether r is part of a snapshot (not a resume point
// unless it ends it).
func (r Record) Snapshot() bool { return r.Flags&(FlagSnapshot|FlagSnapshotEnd) != 0 }

// subscribe is the first subscriber message.
type subscribe struct {
	Group, Subscriber, Source string
	From                      Position
	Flags                     byte
}

// Hello is the server's first message.
type Hello struct {
	Deployment, Group, Node string
	Commit                  Position
	// Snapshot: a snapshot of SnapshotRows rows at SnapshotLSN follows.
	Snapshot     bool
	SnapshotRows uint64
	SnapshotLSN  uint64
}

// Batch is a server message: records (none for a heartbeat) and the
// serving deployment's commit position and clock when it was sent.
type Batch struct {
	Commit  Position
	Sent    time.Time
	Records []Record
}

type wbuf struct{ b []byte }

func (w *wbuf) u8(v byte)    { w.b = append(w.b, v) }
func (w *wbuf) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *wbuf) uv(v uint64)  { w.b = binary.AppendUvarint(w.b, v) }
func (w *wbuf) bytes(p []byte) {
	w.uv(uint64(len(p)))
	w.b = append(w.b, p...)
}
func (w *wbuf) str(s string) { w.uv(uint64(len(s))); w.b = append(w.b, s...) }

type rbuf struct {
	b   []byte
	err error
}

func (r *rbuf) fail() {
	if r.err == nil {
		r.err = errBadMessage
	}
}
func (r *rbuf) u8() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}
func (r *rbuf) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}
func (r *rbuf) uv() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}
func (r *rbuf) bytes() []byte {
	n := r.uv()
	if r.err != nil || n > uint64(len(r.b)) || n > math.MaxInt32 {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}
func (r *rbuf) str() string { return string(r.bytes()) }

func encodeSubscribe(m subscribe) []byte {
	w := &wbuf{}
	w.u8(kindSubscribe)
	w.str(m.Group)
	w.str(m.Subscriber)
	w.str(m.Source)
	w.u64(m.From.Epoch)
	w.u64(m.From.LSN)
	w.u8(m.Flags)
	return w.b
}

func encodeAck(p Position) []byte {
	w := &wbuf{}
	w.u8(kindAck)
	w.u64(p.Epoch)
	w.u64(p.LSN)
	return w.b
}

// decodeClient decodes a subscriber message: kind and body.
func decodeClient(b []byte) (byte, subscribe, Position, error) {
	r := &rbuf{b: b}
	k := r.u8()
	var s subscribe
	var p Position
	switch k {
	case kindSubscribe:
		s = subscribe{Group: r.str(), Subscriber: r.str(), Source: r.str(), From: Position{r.u64(), r.u64()}, Flags: r.u8()}
	case kindAck:
		p = Position{r.u64(), r.u64()}
	default:
		r.fail()
	}
	return k, s, p, r.err
}

func encodeHello(h Hello) []byte {
	w := &wbuf{}
	w.u8(kindHello)
	w.str(h.Deployment)
	w.str(h.Group)
	w.str(h.Node)
	w.u64(h.Commit.Epoch)
	w.u64(h.Commit.LSN)
	if h.Snapshot {
		w.u8(1)
	} else {
		w.u8(0)
	}
	w.u64(h.SnapshotRows)
	w.u64(h.SnapshotLSN)
	return w.b
}

func encodeBatch(b *Batch) []byte {
	size := 32
	for _, r := range b.Records {
		size += len(r.Payload) + 32
	}
	w := &wbuf{b: make([]byte, 0, size)}
	w.u8(kindBatch)
	w.u64(b.Commit.Epoch)
	w.u64(b.Commit.LSN)
	w.u64(uint64(b.Sent.UnixNano()))
	w.uv(uint64(len(b.Records)))
	for _, r := range b.Records {
		w.u64(r.Epoch)
		w.u64(r.LSN)
		w.u8(byte(r.Type))
		w.u8(r.Flags)
		w.bytes(r.Payload)
	}
	return w.b
}

// decodeServer decodes a server message: a Hello or a Batch.
func decodeServer(b []byte) (*Hello, *Batch, error) {
	r := &rbuf{b: b}
	switch r.u8() {
	case kindHello:
		h := &Hello{Deployment: r.str(), Group: r.str(), Node: r.str(), Commit: Position{r.u64(), r.u64()}}
		h.Snapshot = r.u8() == 1
		h.SnapshotRows, h.SnapshotLSN = r.u64(), r.u64()
		return h, nil, r.err
	case kindBatch:
		bt := &Batch{Commit: Position{r.u64(), r.u64()}}
		bt.Sent = time.Unix(0, int64(r.u64()))
		n := r.uv()
		if n > uint64(len(r.b))/18 {
			return nil, nil, errBadMessage
		}
		bt.Records = make([]Record, 0, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			rec := Record{Position: Position{r.u64(), r.u64()}, Type: wal.RecordType(r.u8()), Flags: r.u8()}
			rec.Payload = r.bytes()
			bt.Records = append(bt.Records, rec)
		}
		return nil, bt, r.err
	}
	r.fail()
	return nil, nil, r.err
}
