// Package wal is Tandem's write-ahead log: an ordered sequence of records
// {epoch, lsn, type, payload} stored in segment files, with group commit and
// crash recovery. It knows nothing about collections; payloads are opaque.
//
// # Invariants
//
//   - LSNs are dense: every record's LSN is the previous record's LSN + 1,
//     within a file and across files. LSN 0 is never used.
//   - Every byte that recovery accepts is covered by a CRC32C (Castagnoli).
//   - Recovery never applies anything at or past the first bad frame: it cuts
//     the log there (truncating that file and moving every later file to
//     Dir/corrupt/; nothing is deleted silently).
//   - A record is durable (WaitDurable returns) only after an fsync/fdatasync
//     of the file holding it, and the creation of that file was made durable
//     by fsyncing the file and its directory (SyncFsync mode).
//
// # Directory
//
//	Dir/
//	  LOCK                  flock(2)-ed while a Log is open (one process only)
//	  00000000000000000001.wal
//	  00000000000000001234.wal   segment files, named by the LSN of their first
//	                             record (%020d.wal), in LSN order
//	  corrupt/              files dropped by recovery, kept for the operator
//
// Other names in Dir are ignored. The last segment file is the active one;
// appends go to its end. A new segment is started (lazily, at the next
// append) once the active one holds at least one record and its size is
// >= Options.SegmentBytes; the full file is fdatasync-ed before the new one
// is created, so only the last file can ever have a torn tail.
//
// # Segment file
//
// A segment file is a 24-byte header followed by zero or more frames.
// All integers are little-endian.
//
//	offset size field
//	0      4    magic "TWAL"
//	4      4    version (1)
//	8      8    first LSN: the LSN of the file's first record (must equal the
//	            LSN in the file name)
//	16     4    reserved, zero
//	20     4    CRC32C of bytes 0..20
//
// A file with a header and no frames is valid and records where the log
// continues: an empty log whose next LSN is n (see Log.SetNextLSN and
// Log.TruncateBack) is a single header-only file named n. An empty directory
// is an empty log whose next LSN is 1.
//
// # Frame
//
//	offset size field
//	0      4    length: payload length in bytes (<= Options.MaxRecordBytes)
//	4      4    CRC32C of bytes 8 .. 25+length (everything after this field)
//	8      8    epoch
//	16     8    lsn
//	24     1    type
//	25     n    payload
//
// Frames follow each other without padding.
//
// # Recovery
//
// Open reads every segment file in name order and checks, in order: the
// header (size, magic, version, CRC, first LSN equal to the name and to the
// previous file's last LSN + 1), then each frame (complete header, length <=
// MaxRecordBytes, complete payload, CRC, lsn == previous + 1). At the first
// failure the log is cut at the start of the bad frame (or the whole file, if
// its header is bad): that file is truncated and fsync-ed, and all later files
// are moved to Dir/corrupt/ (a numeric suffix is added on name clashes), then
// the directories are fsync-ed. RecoveryInfo.Reason tells the two causes
// apart:
//
//   - "torn tail": the failure is in the last file and is an incomplete frame
//     (or header) running into end of file, or a bad frame followed only by
//     zero bytes up to end of file (what a file system may show after a crash
//     during an append). This is the expected result of a crash.
//   - "corrupt record at <file>:<offset>: <why>": anything else — bad CRC,
//     length over the bound, LSN gap, bad header, or an incomplete frame in a
//     file that is not the last.
//
// Lowering MaxRecordBytes below the size of records already on disk makes
// recovery treat them as corrupt.
//
// # Standalone record files, reset and retention
//
// CreateFile/FileWriter write records to a single file in the segment file
// format outside any Log, and ReadFile reads such a file (or a segment file)
// back with every frame verified; HA keeps the records it cuts from a
// diverged log that way (internal/engine, DataDir/diverged/). Reset empties
// the log for a node that replaces its state with a snapshot.
// RetainBound(maxBytes) tells how far TruncateFront must go for the files
// left to fit in maxBytes (WAL retention for standbys).
//
// # Durability and concurrency
//
// Append writes the frame to the OS with write(2) (one write for small
// records, header + payload as two writes for large ones, no copy of the
// payload) while holding the log's mutex, which serializes appends and gives
// LSN order. A dedicated goroutine performs fdatasync: in SyncFsync mode it
// runs when a WaitDurable caller needs it, so all callers that arrive while
// one fsync is in flight share the next one (group commit); in SyncInterval
// mode it runs every Options.SyncInterval and WaitDurable only waits for the
// write(2). Any I/O error fails the log: that error is returned by every
// later call (Err), and Options.OnFail is called once with it.
//
// # Failpoints (builds with -tags failpoints)
//
//   - wal/write: the next frame write fails with ENOSPC (nothing written),
//     as on a full file system.
//   - wal/fsync: a segment fsync (group commit or roll) fails with EIO.
package wal
