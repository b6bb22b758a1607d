package milvus

import (
	"context"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"

	"github.com/tandem-db/tandem/internal/merr"
)

// LoadCollection loads a collection for search and query.
func (s *Server) LoadCollection(ctx context.Context, req *milvuspb.LoadCollectionRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.LoadCollection(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName())), nil
}

// ReleaseCollection releases a loaded collection.
func (s *Server) ReleaseCollection(ctx context.Context, req *milvuspb.ReleaseCollectionRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.ReleaseCollection(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName())), nil
}

// GetLoadState reports a collection's load state; partitions share it.
func (s *Server) GetLoadState(ctx context.Context, req *milvuspb.GetLoadStateRequest) (*milvuspb.GetLoadStateResponse, error) {
	db := dbName(ctx, req.GetDbName())
	if err := s.checkPartitions(db, req.GetCollectionName(), req.GetPartitionNames()); err != nil {
		return &milvuspb.GetLoadStateResponse{Status: errStatus(err)}, nil
	}
	st, err := s.eng.GetLoadState(db, req.GetCollectionName())
	if err != nil {
		return &milvuspb.GetLoadStateResponse{Status: errStatus(err)}, nil
	}
	return &milvuspb.GetLoadStateResponse{Status: successStatus(), State: st}, nil
}

// GetLoadingProgress reports 100 for a loaded collection. Loading is
// synchronous in Tandem, so a collection is either loaded or not; a
// collection that is not loaded is reported as Milvus does (code 101).
func (s *Server) GetLoadingProgress(ctx context.Context, req *milvuspb.GetLoadingProgressRequest) (*milvuspb.GetLoadingProgressResponse, error) {
	db := dbName(ctx, req.GetDbName())
	if err := s.checkPartitions(db, req.GetCollectionName(), req.GetPartitionNames()); err != nil {
		return &milvuspb.GetLoadingProgressResponse{Status: errStatus(err)}, nil
	}
	st, err := s.eng.GetLoadState(db, req.GetCollectionName())
	if err != nil {
		return &milvuspb.GetLoadingProgressResponse{Status: errStatus(err)}, nil
	}
	switch st {
	case commonpb.LoadState_LoadStateLoaded:
		return &milvuspb.GetLoadingProgressResponse{Status: successStatus(), Progress: 100, RefreshProgress: 100}, nil
	case commonpb.LoadState_LoadStateLoading:
		return &milvuspb.GetLoadingProgressResponse{Status: successStatus()}, nil
	default:
		return &milvuspb.GetLoadingProgressResponse{Status: errStatus(merr.CollectionNotLoaded(req.GetCollectionName()))}, nil
	}
}
