package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/tandem-db/tandem/internal/engine"
)

// logFlags are --log-level and --log-format, shared by every long-running
// command (standalone, node, proxy, arbiter).
type logFlags struct{ level, format string }

func addLogFlags(f *pflag.FlagSet) *logFlags {
	l := &logFlags{}
	f.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&l.format, "log-format", "text", "log format on stderr: text (key=value) or json (one object per line)")
	return l
}

// logger builds the stderr logger the flags describe.
func (l *logFlags) logger() (*slog.Logger, error) {
	return newLogger(l.level, l.format)
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level = %q: must be debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format = %q: must be text or json", format)
}

// addAlias registers oldName as a deprecated name of the flag newName
// (already on f): both set the same variable, so old command lines keep
// working; oldName is hidden from --help and using it prints a notice
// naming newName. applyEnv honours TANDEM_<OLD_NAME> too, below the new
// name's variable and the command line.
func addAlias(f *pflag.FlagSet, newName, oldName string) {
	nf := f.Lookup(newName)
	af := f.VarPF(nf.Value, oldName, "", nf.Usage)
	af.NoOptDefVal, af.DefValue = nf.NoOptDefVal, nf.DefValue
	if err := f.MarkDeprecated(oldName, "use --"+newName); err != nil {
		panic(err)
	}
}

// addWALSyncFlag registers --wal-sync (WAL fsync policy: fsync or
// interval) with its deprecated name --sync.
func addWALSyncFlag(f *pflag.FlagSet, p *string, def string) {
	f.StringVar(p, "wal-sync", def, "WAL durability: fsync (acknowledge after fsync) or interval (fsync every --wal-sync-interval; a crash may lose the last interval's acknowledged writes)")
	addAlias(f, "wal-sync", "sync")
}

// addBatchRowsFlag registers --batch-rows, rows per insert (or upsert)
// call, for every bench and demo command; oldName, if not "", is a
// deprecated name of it.
func addBatchRowsFlag(f *pflag.FlagSet, p *int, def int, usage, oldName string) {
	f.IntVar(p, "batch-rows", def, usage)
	if oldName != "" {
		addAlias(f, "batch-rows", oldName)
	}
}

// addAnchorFlag registers --anchor (whether a benchmark also measures the
// reference implementation on the same data; default on); withNoAnchor
// also registers the deprecated --no-anchor, which turns it off. Call
// the returned function after parsing: it applies --no-anchor.
func addAnchorFlag(f *pflag.FlagSet, p *bool, usage string, withNoAnchor bool) func() {
	f.BoolVar(p, "anchor", true, usage+" (--anchor=false: skip)")
	if !withNoAnchor {
		return func() {}
	}
	var no bool
	f.BoolVar(&no, "no-anchor", false, "same as --anchor=false")
	if err := f.MarkDeprecated("no-anchor", "use --anchor=false"); err != nil {
		panic(err)
	}
	return func() {
		if no {
			*p = false
		}
	}
}

// addHNSWMFlag registers --hnsw-m (HNSW M: links per node) with its
// deprecated name --M.
func addHNSWMFlag(f *pflag.FlagSet, p *int, def int) {
	f.IntVar(p, "hnsw-m", def, "HNSW M (links per node per layer)")
	addAlias(f, "hnsw-m", "M")
}

// storageFlags are the storage engine's flags, shared by standalone and
// node (one name and one meaning each).
type storageFlags struct {
	dataDir, sync  string
	syncInterval   time.Duration
	segmentRows    int
	compactEvery   time.Duration
	walRetainBytes int64
	minFreeDisk    string
	withRetention  bool
}

// Bounds of --segment-rows.
const (
	minSegmentRows = 1
	maxSegmentRows = 1 << 24
)

// addStorageFlags registers --data-dir, --wal-sync, --wal-sync-interval,
// --segment-rows, --min-free-disk and, withRetention (nodes with standbys),
// --wal-retain-bytes; --sync and --sync-interval are deprecated names of
// --wal-sync and --wal-sync-interval (next to --sync-mode, the
// acknowledgement mode, they read as if they chose it).
func addStorageFlags(f *pflag.FlagSet, withRetention bool) *storageFlags {
	s := &storageFlags{withRetention: withRetention}
	f.StringVar(&s.dataDir, "data-dir", "./tandem-data", "directory for the WAL, segments and manifest (one process at a time: a second one is refused)")
	addWALSyncFlag(f, &s.sync, "fsync")
	f.DurationVar(&s.syncInterval, "wal-sync-interval", 100*time.Millisecond, "fsync period in --wal-sync=interval mode (> 0)")
	addAlias(f, "wal-sync-interval", "sync-interval")
	f.IntVar(&s.segmentRows, "segment-rows", 65536, fmt.Sprintf("rows after which a growing segment is sealed (%d..%d)", minSegmentRows, maxSegmentRows))
	f.DurationVar(&s.compactEvery, "compaction-interval", time.Minute, "period of the automatic compaction (merges small sealed segments, purges deleted rows; 0: off)")
	f.StringVar(&s.minFreeDisk, "min-free-disk", "256MiB", minFreeDiskHelp)
	if withRetention {
		f.Int64Var(&s.walRetainBytes, "wal-retain-bytes", 1<<30, "WAL kept after a checkpoint for standbys that still need it (a standby further behind gets a snapshot; negative: keep none)")
	}
	return s
}

// engineConfig validates the flags and returns the engine configuration.
// Errors name the flag and its value.
func (s *storageFlags) engineConfig(logger *slog.Logger) (engine.Config, error) {
	cfg := engine.Config{DataDir: s.dataDir, SegmentMaxRows: s.segmentRows, SyncInterval: s.syncInterval, Logger: logger,
		WALRetainBytes: s.walRetainBytes, CompactionInterval: s.compactEvery}
	if s.compactEvery == 0 {
		cfg.CompactionInterval = -1 // off
	}
	switch {
	case s.dataDir == "":
		return cfg, fmt.Errorf("--data-dir: a directory is required")
	case s.segmentRows < minSegmentRows || s.segmentRows > maxSegmentRows:
		return cfg, fmt.Errorf("--segment-rows = %d: must be between %d and %d", s.segmentRows, minSegmentRows, maxSegmentRows)
	case s.syncInterval <= 0:
		return cfg, fmt.Errorf("--wal-sync-interval = %v: must be > 0", s.syncInterval)
	case s.compactEvery < 0:
		return cfg, fmt.Errorf("--compaction-interval = %v: must be >= 0", s.compactEvery)
	}
	var err error
	if cfg.MinFreeDiskBytes, err = parseMinFreeDisk(s.minFreeDisk); err != nil {
		return cfg, err
	}
	switch s.sync {
	case "fsync":
		cfg.Sync = engine.SyncFsync
	case "interval":
		cfg.Sync = engine.SyncInterval
	default:
		return cfg, fmt.Errorf("--wal-sync = %q: must be fsync or interval", s.sync)
	}
	return cfg, nil
}
