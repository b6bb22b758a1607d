package wal

import "errors"

// Sentinel errors. Returned errors wrap these (test with errors.Is) and add
// context.
var (
	// ErrClosed is returned by every call on a closed Log.
	ErrClosed = errors.New("wal: log closed")
	// ErrLSNGap is returned by AppendRecord when the record's LSN is not
	// LastLSN()+1.
	ErrLSNGap = errors.New("wal: lsn not dense")
	// ErrTooLarge is returned by Append/AppendRecord when the payload is larger
	// than Options.MaxRecordBytes.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrTruncated is returned when the requested LSN is older than the first
	// record still on disk (removed by TruncateFront, or the log started later
	// via SetNextLSN).
	ErrTruncated = errors.New("wal: lsn already truncated")
	// ErrNotAppended is returned by WaitDurable for an LSN beyond LastLSN
	// (never appended, or removed by TruncateBack).
	ErrNotAppended = errors.New("wal: lsn not appended")
	// ErrNotEmpty is returned by SetNextLSN when the log holds records.
	ErrNotEmpty = errors.New("wal: log not empty")
	// ErrCorrupt is returned by Iterate when a frame on disk fails its checks
	// (the file changed after recovery).
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrLocked is returned by Open when another Log holds Dir.
	ErrLocked = errors.New("wal: directory locked by another log")
)
