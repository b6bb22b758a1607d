package wal

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tandem-db/tandem/internal/failpoint"
)

// SyncedMarkName is the file in Dir where a failpoint build with the
// point "wal/synced-mark" armed (any erroring spec, e.g. `error`)
// records the log's synced LSN each time it changes: every record with
// LSN <= the mark has really been fsynced (or the log was cut back to it
// durably). The chaos harness's power-loss fault reads it after a SIGKILL
// and removes the records past it, as a power cut would lose the
// unsynced tail (the page cache survives a SIGKILL, so the process's own
// death loses nothing). The file holds the LSN as 20 decimal digits and a
// newline, rewritten in place with one pwrite (never torn by a process
// kill), and is not fsynced: only the page cache must survive. Release
// builds never write it; recovery ignores it like any other name.
const SyncedMarkName = "SYNCED"

// markSyncedLocked writes l.synced to Dir/SYNCED when wal/synced-mark is
// armed (failpoint builds only). Errors are logged, not returned: the
// mark is test evidence, not log state. Requires l.mu.
func (l *Log) markSyncedLocked() {
	if !failpoint.Enabled || failpoint.Inject("wal/synced-mark") == nil {
		return
	}
	f, err := os.OpenFile(filepath.Join(l.opts.Dir, SyncedMarkName), os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = f.WriteAt([]byte(fmt.Sprintf("%020d\n", l.synced)), 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		l.logger.Warn("wal: write synced mark", "dir", l.opts.Dir, "err", err)
	}
}
