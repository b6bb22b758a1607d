//go:build !linux

package wal

import "os"

// fdatasync falls back to a full fsync where fdatasync is not available.
func fdatasync(f *os.File) error { return f.Sync() }

// lockFile is a no-op where flock(2) is not wired up.
func lockFile(f *os.File) error { return nil }
