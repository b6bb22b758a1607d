package wal

import (
	"fmt"
	"log/slog"
	"math"
	"time"
)

// SyncMode selects when records count as durable.
type SyncMode int

const (
	// SyncFsync (the default): a record is durable only after the file
	// holding it has been fdatasync-ed. WaitDurable waits for that fsync;
	// concurrent waiters share one (group commit).
	SyncFsync SyncMode = iota
	// SyncInterval: the log fsyncs every Options.SyncInterval; WaitDurable
	// returns once the record has been written to the OS (write(2)). A machine
	// crash may lose up to one interval of acknowledged records.
	SyncInterval
)

// String returns "fsync" or "interval".
func (m SyncMode) String() string {
	switch m {
	case SyncFsync:
		return "fsync"
	case SyncInterval:
		return "interval"
	default:
		return fmt.Sprintf("SyncMode(%d)", int(m))
	}
}

// Defaults applied by Open (and Validate) to zero-valued Options fields.
const (
	DefaultSegmentBytes   int64 = 64 << 20 // 64 MiB
	DefaultSyncInterval         = 100 * time.Millisecond
	DefaultMaxRecordBytes int64 = 256 << 20 // 256 MiB
	// MaxMaxRecordBytes is the largest allowed MaxRecordBytes: the frame's
	// length field is a uint32.
	MaxMaxRecordBytes int64 = math.MaxUint32
)

// Options configures a Log. Zero-valued fields take the defaults listed.
type Options struct {
	// Dir is the directory holding the segment files. Required; created
	// (with parents, mode 0755) if absent.
	Dir string
	// SegmentBytes: once the active segment file holds at least one record
	// and is at least this many bytes, the next append starts a new file.
	// Default 64 MiB.
	SegmentBytes int64
	// Sync is the durability mode. Default SyncFsync.
	Sync SyncMode
	// SyncInterval is the fsync period in SyncInterval mode. Default 100ms.
	SyncInterval time.Duration
	// MaxRecordBytes bounds the payload size in bytes: a larger Append fails
	// with ErrTooLarge, and a larger frame length found by recovery is
	// corruption. Default 256 MiB, at most MaxMaxRecordBytes.
	MaxRecordBytes int64
	// OnFsync, if set, is called after each fsync/fdatasync of a segment file
	// with its duration (for metrics). It may be called with the log's
	// mutex held: it must be fast and must not call into the Log.
	OnFsync func(d time.Duration)
	// OnFail, if set, is called once, with the sticky error, when the log
	// fails (an I/O error: ENOSPC on write, EIO on fsync, ...). It is called
	// with the log's mutex held: it must be fast and must not call into the
	// Log. The engine uses it to learn of a failure at once, even one hit
	// by the background fsync with no writer waiting.
	OnFail func(err error)
	// Logger receives recovery and failure reports. Default slog.Default().
	Logger *slog.Logger
}

// DefaultOptions returns Options for dir with every default filled in.
func DefaultOptions(dir string) Options {
	return Options{Dir: dir}.withDefaults()
}

// withDefaults returns o with zero-valued fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate reports the first invalid field, naming the field and its value.
// Zero-valued fields are valid (they take their defaults).
func (o Options) Validate() error {
	o = o.withDefaults()
	switch {
	case o.Dir == "":
		return fmt.Errorf("wal: Dir = %q: required", o.Dir)
	case o.SegmentBytes <= 0:
		return fmt.Errorf("wal: SegmentBytes = %d: must be > 0", o.SegmentBytes)
	case o.Sync != SyncFsync && o.Sync != SyncInterval:
		return fmt.Errorf("wal: Sync = %d: must be SyncFsync or SyncInterval", int(o.Sync))
	case o.SyncInterval < 0:
		return fmt.Errorf("wal: SyncInterval = %v: must be > 0", o.SyncInterval)
	case o.MaxRecordBytes <= 0 || o.MaxRecordBytes > MaxMaxRecordBytes:
		return fmt.Errorf("wal: MaxRecordBytes = %d: must be in (0, %d]", o.MaxRecordBytes, MaxMaxRecordBytes)
	}
	return nil
}

// ParseSyncMode parses "fsync" or "interval" (the configuration spelling).
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "fsync", "":
		return SyncFsync, nil
	case "interval":
		return SyncInterval, nil
	}
	return 0, fmt.Errorf("wal: sync mode %q: must be \"fsync\" or \"interval\"", s)
}
