package engine

import (
	"log/slog"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// DefaultDB is the database that always exists; "" means DefaultDB.
const DefaultDB = "default"

// DefaultPartition is the partition every collection is created with.
const DefaultPartition = "_default"

// SyncMode says when an appended WAL record counts as durable.
type SyncMode int

const (
	// SyncFsync (the default) acknowledges a write only after fsync.
	SyncFsync SyncMode = iota
	// SyncInterval fsyncs every Config.SyncInterval; a crash may lose the
	// last interval of acknowledged writes.
	SyncInterval
)

// Config configures an Engine. Zero values mean the defaults below.
type Config struct {
	// DataDir holds wal/, segments/ and the manifest. Required.
	DataDir string
	// Sync is the durability mode of the WAL (default SyncFsync).
	Sync SyncMode
	// SyncInterval is the fsync period in SyncInterval mode (default 100ms).
	SyncInterval time.Duration
	// SegmentMaxRows seals a growing segment once it holds this many rows
	// (default 65536).
	SegmentMaxRows int
	// CheckpointWALBytes triggers a background checkpoint once the WAL
	// written since the last checkpoint exceeds it (default 256 MiB).
	CheckpointWALBytes int64
	// MaxRequestBytes bounds one DML request's payload (default 64 MiB).
	MaxRequestBytes int64
	// Epoch is stamped on every WAL record this engine writes (default 1).
	Epoch uint64
	// Logger receives WAL recovery and failure reports (default
	// slog.Default()).
	Logger *slog.Logger
	// IndexBuildWorkers bounds the ANN index builds (HNSW, IVF_FLAT) that
	// run at once in the background (default 1).
	IndexBuildWorkers int
	// IndexBuildThreads is the number of goroutines one build inserts
	// with (default GOMAXPROCS).
	IndexBuildThreads int
	// IndexMinRows: sealed segments with fewer rows get no ANN index and
	// are searched exactly (default 1024, as Milvus; negative: 1).
	IndexMinRows int
	// WALRetainBytes bounds the WAL a checkpoint keeps for standbys (WAL
	// pins, see PinWAL): records a pin still needs survive the
	// checkpoint's truncation unless the WAL would then exceed this many
	// bytes; a standby that falls further behind gets a snapshot instead
	// (default 1 GiB; negative: pins are ignored).
	WALRetainBytes int64
	// WALSegmentBytes is the size at which the WAL starts a new file
	// (default wal.DefaultSegmentBytes, 64 MiB). Truncation after a
	// checkpoint removes whole files only.
	WALSegmentBytes int64
	// RecentLogBytes bounds the newest records kept in memory (payload
	// bytes) so replication senders read them without going to the WAL
	// files (LogReader; default 64 MiB; negative: none).
	RecentLogBytes int64
	// MinFreeDiskBytes: new client writes are refused (Milvus "disk limit
	// exceeded", naming the free space) while the file system holding
	// DataDir has fewer bytes available, so the WAL is not broken by a
	// full disk (see disk.go). Default DefaultMinFreeDiskBytes (256 MiB);
	// negative: off.
	MinFreeDiskBytes int64
	// CompactionInterval is the period of the automatic compaction pass
	// (compact.go): small sealed segments are merged and deleted rows
	// purged (default DefaultCompactionInterval, 1 min; negative: off;
	// manual compactions run regardless).
	CompactionInterval time.Duration
}

// CreateCollectionOptions are the optional parts of CreateCollection.
type CreateCollectionOptions struct {
	ShardsNum        int32
	ConsistencyLevel commonpb.ConsistencyLevel
	Properties       []*commonpb.KeyValuePair
	NumPartitions    int64
}

// CollectionInfo describes a collection. Schema has field IDs assigned
// (100, 101, ... in declaration order, as Milvus does) and must not be
// modified by callers.
type CollectionInfo struct {
	ID               int64
	DB               string
	Name             string
	Schema           *schemapb.CollectionSchema
	CreatedAt        time.Time
	ShardsNum        int32
	ConsistencyLevel commonpb.ConsistencyLevel
	Properties       []*commonpb.KeyValuePair
	Partitions       []PartitionInfo
	Loaded           bool
	// Aliases are the collection's aliases, sorted.
	Aliases []string
}

// PartitionInfo describes a partition.
type PartitionInfo struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// IndexInfo describes an index on a field. Row counts cover sealed
// segments only (as Milvus): IndexedRows have an index built (or need
// none), PendingRows wait for a background build; growing rows are
// searched exactly and counted in none. State is Finished when nothing is
// pending, InProgress while builds are pending, Failed (FailReason) if a
// build failed.
type IndexInfo struct {
	IndexName   string
	FieldName   string
	FieldID     int64
	IndexID     int64
	Params      map[string]string // index_type, metric_type, M, efConstruction, nlist, ...
	IndexedRows int64
	TotalRows   int64
	PendingRows int64
	State       commonpb.IndexState
	FailReason  string
}

// LoadState is a collection's load state as the Milvus API reports it.
type LoadState = commonpb.LoadState

// SearchRequest is one (multi-vector) ANN search.
type SearchRequest struct {
	DB, Collection string
	Partitions     []string // empty: all
	AnnsField      string   // empty: the collection's only vector field
	Vectors        [][]float32
	// RawVectors, when set instead of Vectors, are query vectors in the
	// compact form of RawType (BinaryVector, Float16Vector,
	// BFloat16Vector or Int8Vector), one per query.
	RawVectors   [][]byte
	RawType      schemapb.DataType
	TopK         int
	Offset       int
	MetricType   string            // empty: the index's (or L2 without index)
	Params       map[string]string // ef, nprobe, ... (strings as sent)
	Filter       string            // Milvus boolean expression; empty: none
	OutputFields []string          // may contain "*" and "$meta"-dynamic keys
	RoundDecimal int               // -1: no rounding
	// Group-by search (search_extra.go): the field to group by ("":
	// none), the hits per group (0 = 1) and whether to fill every group.
	GroupByField    string
	GroupSize       int
	StrictGroupSize bool
	// FilterParams are the values of Filter's {name} placeholders
	// (Milvus's expr_template_values).
	FilterParams map[string]*schemapb.TemplateValue
}

// QueryRequest is a scalar query.
type QueryRequest struct {
	DB, Collection string
	Partitions     []string
	Filter         string   // required unless Limit > 0 or count(*)
	OutputFields   []string // may contain "*" and "count(*)"
	Limit, Offset  int64    // Limit 0: no limit
	// FilterParams are the values of Filter's {name} placeholders.
	FilterParams map[string]*schemapb.TemplateValue
}

// Stats are a collection's statistics.
type Stats struct {
	RowCount int64
}

// EngineStats are gauges for /metrics.
type EngineStats struct {
	Collections   int
	Rows          int64
	GrowingSegs   int
	SealedSegs    int
	AppliedLSN    uint64
	DurableLSN    uint64
	CheckpointLSN uint64
	WALBytes      int64
	// Disk is the low-disk guard's state.
	Disk DiskStatus
	// Broken is why the engine failed ("" while healthy): every write
	// is refused until it is reopened.
	Broken string
}
