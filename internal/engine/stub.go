package engine

// This file fixes the Engine's public method set so that the API layer can
// be written against it. The engine implementation replaces these bodies.

import (
	"context"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/tandem-db/tandem/internal/merr"
)

// Engine is one node's storage engine: catalog, segments, WAL and apply.
// All methods are safe for concurrent use. Write methods return only after
// their WAL record is durable (per Config.Sync).
type Engine struct{}

var errTODO = merr.ErrServiceUnimplemented

// Open recovers (manifest + WAL replay) or creates the engine in cfg.DataDir.
func Open(cfg Config) (*Engine, error) { return &Engine{}, nil }

// Close checkpoints if cheap, syncs and closes files. Idempotent.
func (e *Engine) Close() error { return nil }

func (e *Engine) CreateCollection(ctx context.Context, db string, schema *schemapb.CollectionSchema, opts CreateCollectionOptions) error {
	return errTODO
}
func (e *Engine) DropCollection(ctx context.Context, db, name string) error { return errTODO }
func (e *Engine) DescribeCollection(db, name string) (*CollectionInfo, error) {
	return nil, errTODO
}
func (e *Engine) ListCollections(db string) ([]*CollectionInfo, error) { return nil, errTODO }

func (e *Engine) CreatePartition(ctx context.Context, db, coll, part string) error { return errTODO }
func (e *Engine) DropPartition(ctx context.Context, db, coll, part string) error   { return errTODO }
func (e *Engine) ListPartitions(db, coll string) ([]PartitionInfo, error)          { return nil, errTODO }

// CreateIndex records (and, for HNSW/IVF later, builds) an index. params
// holds index_type, metric_type and the index's own parameters as strings.
func (e *Engine) CreateIndex(ctx context.Context, db, coll, field, indexName string, params map[string]string) error {
	return errTODO
}

// DescribeIndex lists indexes; empty field and indexName mean all.
func (e *Engine) DescribeIndex(db, coll, field, indexName string) ([]IndexInfo, error) {
	return nil, errTODO
}
func (e *Engine) DropIndex(ctx context.Context, db, coll, field, indexName string) error {
	return errTODO
}

func (e *Engine) LoadCollection(ctx context.Context, db, coll string) error    { return errTODO }
func (e *Engine) ReleaseCollection(ctx context.Context, db, coll string) error { return errTODO }
func (e *Engine) GetLoadState(db, coll string) (LoadState, error)              { return 0, errTODO }

// Insert appends rows atomically (one WAL record). fields are columns as
// the SDK sends them (including the dynamic "$meta" JSON column when the
// schema enables it); numRows is the row count. Auto-id primary keys are
// assigned here. Returns the primary keys of the inserted rows.
func (e *Engine) Insert(ctx context.Context, db, coll, partition string, fields []*schemapb.FieldData, numRows int) (*schemapb.IDs, error) {
	return nil, errTODO
}

// Upsert replaces rows by primary key (delete + insert at one LSN).
func (e *Engine) Upsert(ctx context.Context, db, coll, partition string, fields []*schemapb.FieldData, numRows int) (*schemapb.IDs, error) {
	return nil, errTODO
}

// Delete removes the rows matching expr; returns how many were deleted.
func (e *Engine) Delete(ctx context.Context, db, coll, partition, expr string) (int64, error) {
	return 0, errTODO
}

// Flush seals growing segments and checkpoints; returns when durable.
func (e *Engine) Flush(ctx context.Context, db string, colls []string) error { return errTODO }

func (e *Engine) Search(ctx context.Context, req *SearchRequest) (*schemapb.SearchResultData, error) {
	return nil, errTODO
}

// Query returns the matching rows as columns; "count(*)" yields one Int64
// column named "count(*)".
func (e *Engine) Query(ctx context.Context, req *QueryRequest) ([]*schemapb.FieldData, error) {
	return nil, errTODO
}

func (e *Engine) CollectionStats(db, coll string) (Stats, error) { return Stats{}, errTODO }
func (e *Engine) Stats() EngineStats                             { return EngineStats{} }
