package milvus

import (
	"context"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/merr"
)

// RequestIDHeader is the gRPC metadata key (and REST header) carrying the
// request id of an Insert, Upsert or Delete: a write whose id the node
// knows returns the original result and is not applied again (see package
// engine, request.go). tandem proxy sets it on every write it forwards
// (internal/proxy uses the same name). Without it a write is applied as
// sent.
const RequestIDHeader = "tandem-request-id"

// withRequestID returns ctx carrying the request's id for the engine, or
// an invalid-parameter error for a malformed or repeated id.
func withRequestID(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(RequestIDHeader)
	switch len(v) {
	case 0:
		return ctx, nil
	case 1:
	default:
		return ctx, merr.Wrapf(merr.ErrParameterInvalid, "%d values of %s, want one", len(v), RequestIDHeader)
	}
	if err := engine.ValidateRequestID(v[0]); err != nil {
		return ctx, err
	}
	return engine.WithRequestID(ctx, v[0]), nil
}

// mutationResult builds a successful MutationResult for n rows.
func (s *Server) mutationResult(ids *schemapb.IDs, n int) *milvuspb.MutationResult {
	succ := make([]uint32, n)
	for i := range succ {
		succ[i] = uint32(i)
	}
	return &milvuspb.MutationResult{
		Status:    successStatus(),
		IDs:       ids,
		SuccIndex: succ,
		Timestamp: s.tso.next(),
	}
}

// Insert inserts rows given as columns.
func (s *Server) Insert(ctx context.Context, req *milvuspb.InsertRequest) (*milvuspb.MutationResult, error) {
	ctx, err := withRequestID(ctx)
	if err != nil {
		return &milvuspb.MutationResult{Status: errStatus(err)}, nil
	}
	n := int(req.GetNumRows())
	ids, err := s.eng.Insert(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetPartitionName(), req.GetFieldsData(), n)
	if err != nil {
		return &milvuspb.MutationResult{Status: errStatus(err)}, nil
	}
	res := s.mutationResult(ids, n)
	res.InsertCnt = int64(n)
	return res, nil
}

// Upsert replaces rows by primary key. Partial updates are not supported.
func (s *Server) Upsert(ctx context.Context, req *milvuspb.UpsertRequest) (*milvuspb.MutationResult, error) {
	if req.GetPartialUpdate() {
		return &milvuspb.MutationResult{Status: errStatus(merr.Wrapf(merr.ErrOperationNotSupported, "partial update is not supported"))}, nil
	}
	ctx, err := withRequestID(ctx)
	if err != nil {
		return &milvuspb.MutationResult{Status: errStatus(err)}, nil
	}
	n := int(req.GetNumRows())
	ids, err := s.eng.Upsert(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetPartitionName(), req.GetFieldsData(), n)
	if err != nil {
		return &milvuspb.MutationResult{Status: errStatus(err)}, nil
	}
	res := s.mutationResult(ids, n)
	res.UpsertCnt = int64(n)
	return res, nil
}

// Delete deletes the rows matching the request's expression.
func (s *Server) Delete(ctx context.Context, req *milvuspb.DeleteRequest) (*milvuspb.MutationResult, error) {
	ctx, err := withRequestID(ctx)
	if err != nil {
		return &milvuspb.MutationResult{Status: errStatus(err)}, nil
	}
	n, err := s.eng.DeleteWithTemplates(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetPartitionName(),
		req.GetExpr(), req.GetExprTemplateValues())
	if err != nil {
		return &milvuspb.MutationResult{Status: errStatus(err)}, nil
	}
	return &milvuspb.MutationResult{Status: successStatus(), IDs: &schemapb.IDs{}, DeleteCnt: n, Timestamp: s.tso.next()}, nil
}

// Flush makes the collections' data durable in sealed segments.
func (s *Server) Flush(ctx context.Context, req *milvuspb.FlushRequest) (*milvuspb.FlushResponse, error) {
	db := dbName(ctx, req.GetDbName())
	if err := s.eng.Flush(ctx, db, req.GetCollectionNames()); err != nil {
		return &milvuspb.FlushResponse{Status: errStatus(err)}, nil
	}
	ts := s.tso.next()
	resp := &milvuspb.FlushResponse{
		Status:          successStatus(),
		DbName:          db,
		CollSegIDs:      map[string]*schemapb.LongArray{},
		FlushCollSegIDs: map[string]*schemapb.LongArray{},
		CollSealTimes:   map[string]int64{},
		CollFlushTs:     map[string]uint64{},
	}
	for _, c := range req.GetCollectionNames() {
		resp.CollSegIDs[c] = &schemapb.LongArray{}
		resp.FlushCollSegIDs[c] = &schemapb.LongArray{}
		resp.CollSealTimes[c] = time.Now().Unix()
		resp.CollFlushTs[c] = ts
	}
	return resp, nil
}

// GetFlushState reports flushed: Flush returns only once data is durable.
func (s *Server) GetFlushState(ctx context.Context, req *milvuspb.GetFlushStateRequest) (*milvuspb.GetFlushStateResponse, error) {
	return &milvuspb.GetFlushStateResponse{Status: successStatus(), Flushed: true}, nil
}

// FlushAll flushes every collection of the database.
func (s *Server) FlushAll(ctx context.Context, req *milvuspb.FlushAllRequest) (*milvuspb.FlushAllResponse, error) {
	db := dbName(ctx, req.GetDbName())
	infos, err := s.eng.ListCollections(db)
	if err != nil {
		return &milvuspb.FlushAllResponse{Status: errStatus(err)}, nil
	}
	names := make([]string, 0, len(infos))
	for _, info := range infos {
		names = append(names, info.Name)
	}
	if len(names) > 0 {
		if err := s.eng.Flush(ctx, db, names); err != nil {
			return &milvuspb.FlushAllResponse{Status: errStatus(err)}, nil
		}
	}
	return &milvuspb.FlushAllResponse{Status: successStatus(), FlushAllTs: s.tso.next()}, nil
}

// GetFlushAllState reports flushed: FlushAll returns only once durable.
func (s *Server) GetFlushAllState(ctx context.Context, req *milvuspb.GetFlushAllStateRequest) (*milvuspb.GetFlushAllStateResponse, error) {
	return &milvuspb.GetFlushAllStateResponse{Status: successStatus(), Flushed: true}, nil
}
