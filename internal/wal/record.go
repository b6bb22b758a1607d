package wal

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/tandem-db/tandem/internal/fileutil"
)

// RecordType tags a record for its consumer; the log does not interpret it.
type RecordType uint8

// Record is one log entry. LSNs are dense (each = previous+1) within a log.
type Record struct {
	Epoch   uint64
	LSN     uint64
	Type    RecordType
	Payload []byte
}

// frameHeaderSize is the size in bytes of a frame before its payload:
// length(4) crc(4) epoch(8) lsn(8) type(1).
const frameHeaderSize = 25

// frameHeader is a decoded frame header.
type frameHeader struct {
	length uint32 // payload bytes
	crc    uint32 // CRC32C of bytes 8.. of the frame
	epoch  uint64
	lsn    uint64
	typ    RecordType
}

// encodeFrameHeader writes the frame header for (epoch, lsn, typ, payload)
// into b[:frameHeaderSize], computing the CRC over the header tail and
// payload.
func encodeFrameHeader(b []byte, epoch, lsn uint64, typ RecordType, payload []byte) {
	_ = b[frameHeaderSize-1]
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(b[8:16], epoch)
	binary.LittleEndian.PutUint64(b[16:24], lsn)
	b[24] = byte(typ)
	crc := crc32.Update(0, fileutil.CastagnoliTable, b[8:frameHeaderSize])
	crc = crc32.Update(crc, fileutil.CastagnoliTable, payload)
	binary.LittleEndian.PutUint32(b[4:8], crc)
}

// decodeFrameHeader parses b[:frameHeaderSize].
func decodeFrameHeader(b []byte) frameHeader {
	_ = b[frameHeaderSize-1]
	return frameHeader{
		length: binary.LittleEndian.Uint32(b[0:4]),
		crc:    binary.LittleEndian.Uint32(b[4:8]),
		epoch:  binary.LittleEndian.Uint64(b[8:16]),
		lsn:    binary.LittleEndian.Uint64(b[16:24]),
		typ:    RecordType(b[24]),
	}
}

// headerCRC returns the running CRC over the CRC-covered part of the frame
// header b[8:frameHeaderSize]; continue it over the payload.
func headerCRC(b []byte) uint32 {
	return crc32.Update(0, fileutil.CastagnoliTable, b[8:frameHeaderSize])
}
