package milvus

import (
	"context"
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/merr"
)

// CreatePartition creates a partition.
func (s *Server) CreatePartition(ctx context.Context, req *milvuspb.CreatePartitionRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.CreatePartition(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetPartitionName())), nil
}

// DropPartition drops a partition.
func (s *Server) DropPartition(ctx context.Context, req *milvuspb.DropPartitionRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.DropPartition(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetPartitionName())), nil
}

// HasPartition reports whether a partition exists.
func (s *Server) HasPartition(ctx context.Context, req *milvuspb.HasPartitionRequest) (*milvuspb.BoolResponse, error) {
	parts, err := s.eng.ListPartitions(dbName(ctx, req.GetDbName()), req.GetCollectionName())
	if err != nil {
		return &milvuspb.BoolResponse{Status: errStatus(err)}, nil
	}
	return &milvuspb.BoolResponse{Status: successStatus(), Value: hasPartition(parts, req.GetPartitionName())}, nil
}

func hasPartition(parts []engine.PartitionInfo, name string) bool {
	for _, p := range parts {
		if p.Name == name {
			return true
		}
	}
	return false
}

// ShowPartitions lists a collection's partitions.
func (s *Server) ShowPartitions(ctx context.Context, req *milvuspb.ShowPartitionsRequest) (*milvuspb.ShowPartitionsResponse, error) {
	db := dbName(ctx, req.GetDbName())
	parts, err := s.eng.ListPartitions(db, req.GetCollectionName())
	if err != nil {
		return &milvuspb.ShowPartitionsResponse{Status: errStatus(err)}, nil
	}
	pct := int64(0)
	if st, err := s.eng.GetLoadState(db, req.GetCollectionName()); err == nil && st == commonpb.LoadState_LoadStateLoaded {
		pct = 100
	}
	wanted := map[string]bool{}
	for _, n := range req.GetPartitionNames() {
		wanted[n] = true
	}
	resp := &milvuspb.ShowPartitionsResponse{Status: successStatus()}
	for _, p := range parts {
		if len(wanted) > 0 && !wanted[p.Name] {
			continue
		}
		resp.PartitionNames = append(resp.PartitionNames, p.Name)
		resp.PartitionIDs = append(resp.PartitionIDs, p.ID)
		resp.CreatedTimestamps = append(resp.CreatedTimestamps, hybridTS(p.CreatedAt))
		resp.CreatedUtcTimestamps = append(resp.CreatedUtcTimestamps, utcMillis(p.CreatedAt))
		resp.InMemoryPercentages = append(resp.InMemoryPercentages, pct)
	}
	return resp, nil
}

// LoadPartitions loads the whole collection: Tandem loads at collection
// granularity.
func (s *Server) LoadPartitions(ctx context.Context, req *milvuspb.LoadPartitionsRequest) (*commonpb.Status, error) {
	db := dbName(ctx, req.GetDbName())
	if err := s.checkPartitions(db, req.GetCollectionName(), req.GetPartitionNames()); err != nil {
		return errStatus(err), nil
	}
	return errStatus(s.eng.LoadCollection(ctx, db, req.GetCollectionName())), nil
}

// ReleasePartitions releases the whole collection: Tandem loads at
// collection granularity.
func (s *Server) ReleasePartitions(ctx context.Context, req *milvuspb.ReleasePartitionsRequest) (*commonpb.Status, error) {
	db := dbName(ctx, req.GetDbName())
	if err := s.checkPartitions(db, req.GetCollectionName(), req.GetPartitionNames()); err != nil {
		return errStatus(err), nil
	}
	return errStatus(s.eng.ReleaseCollection(ctx, db, req.GetCollectionName())), nil
}

// checkPartitions reports the first of names that is not a partition of
// the collection, as the engine words it.
func (s *Server) checkPartitions(db, coll string, names []string) error {
	parts, err := s.eng.ListPartitions(db, coll)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !hasPartition(parts, n) {
			return merr.PartitionNotFound(n)
		}
	}
	return nil
}

// GetPartitionStatistics reports a partition's row count, counted with a
// count(*) query restricted to the partition.
func (s *Server) GetPartitionStatistics(ctx context.Context, req *milvuspb.GetPartitionStatisticsRequest) (*milvuspb.GetPartitionStatisticsResponse, error) {
	db := dbName(ctx, req.GetDbName())
	n, err := s.countRows(ctx, db, req.GetCollectionName(), []string{req.GetPartitionName()})
	if err != nil {
		return &milvuspb.GetPartitionStatisticsResponse{Status: errStatus(err)}, nil
	}
	return &milvuspb.GetPartitionStatisticsResponse{
		Status: successStatus(),
		Stats:  []*commonpb.KeyValuePair{{Key: "row_count", Value: strconv.FormatInt(n, 10)}},
	}, nil
}

// countRows runs count(*) over the given partitions.
func (s *Server) countRows(ctx context.Context, db, coll string, parts []string) (int64, error) {
	if err := s.checkPartitions(db, coll, parts); err != nil {
		return 0, err
	}
	cols, err := s.eng.Query(ctx, &engine.QueryRequest{DB: db, Collection: coll, Partitions: parts, OutputFields: []string{countStar}})
	if err != nil {
		return 0, err
	}
	for _, c := range cols {
		if c.GetFieldName() == countStar {
			if d := c.GetScalars().GetLongData().GetData(); len(d) > 0 {
				return d[0], nil
			}
		}
	}
	return 0, nil
}
