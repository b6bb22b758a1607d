package milvus

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/merr"
)

// CreateCollection creates a collection from the marshalled schema.
func (s *Server) CreateCollection(ctx context.Context, req *milvuspb.CreateCollectionRequest) (*commonpb.Status, error) {
	schema := &schemapb.CollectionSchema{}
	if err := proto.Unmarshal(req.GetSchema(), schema); err != nil {
		return errStatus(merr.Wrapf(merr.ErrCollectionIllegal, "cannot decode the collection schema: %v", err)), nil
	}
	if schema.GetName() == "" {
		schema.Name = req.GetCollectionName()
	}
	if req.GetCollectionName() != "" && schema.GetName() != req.GetCollectionName() {
		return errStatus(merr.InvalidParam("collection name %q does not match the schema's name %q", req.GetCollectionName(), schema.GetName())), nil
	}
	opts := engine.CreateCollectionOptions{
		ShardsNum:        req.GetShardsNum(),
		ConsistencyLevel: req.GetConsistencyLevel(),
		Properties:       req.GetProperties(),
		NumPartitions:    req.GetNumPartitions(),
	}
	err := s.eng.CreateCollection(ctx, dbName(ctx, req.GetDbName()), schema, opts)
	return errStatus(err), nil
}

// DropCollection drops a collection.
func (s *Server) DropCollection(ctx context.Context, req *milvuspb.DropCollectionRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.DropCollection(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName())), nil
}

// HasCollection reports whether a collection exists.
func (s *Server) HasCollection(ctx context.Context, req *milvuspb.HasCollectionRequest) (*milvuspb.BoolResponse, error) {
	_, err := s.eng.DescribeCollection(dbName(ctx, req.GetDbName()), req.GetCollectionName())
	if errors.Is(err, merr.ErrCollectionNotFound) {
		return &milvuspb.BoolResponse{Status: successStatus(), Value: false}, nil
	}
	if err != nil {
		return &milvuspb.BoolResponse{Status: errStatus(err)}, nil
	}
	return &milvuspb.BoolResponse{Status: successStatus(), Value: true}, nil
}

// describe finds a collection by name, or by ID when the name is empty.
func (s *Server) describe(db, name string, id int64) (*engine.CollectionInfo, error) {
	if name != "" || id == 0 {
		return s.eng.DescribeCollection(db, name)
	}
	infos, err := s.eng.ListCollections(db)
	if err != nil {
		return nil, err
	}
	for _, info := range infos {
		if info.ID == id {
			return info, nil
		}
	}
	return nil, merr.CollectionNotFound(strconv.FormatInt(id, 10))
}

// DescribeCollection describes a collection. A missing collection is
// status code 100, which the SDK's HasCollection relies on.
func (s *Server) DescribeCollection(ctx context.Context, req *milvuspb.DescribeCollectionRequest) (*milvuspb.DescribeCollectionResponse, error) {
	info, err := s.describe(dbName(ctx, req.GetDbName()), req.GetCollectionName(), req.GetCollectionID())
	if err != nil {
		return &milvuspb.DescribeCollectionResponse{Status: errStatus(err)}, nil
	}
	created := hybridTS(info.CreatedAt)
	shards := max(info.ShardsNum, 1)
	vchans := make([]string, shards)
	pchans := make([]string, shards)
	for i := range vchans {
		pchans[i] = fmt.Sprintf("tandem-dml_%d", i)
		vchans[i] = fmt.Sprintf("tandem-dml_%d_%dv%d", i, info.ID, i)
	}
	return &milvuspb.DescribeCollectionResponse{
		Status:               successStatus(),
		Schema:               publicSchema(info.Schema),
		CollectionID:         info.ID,
		VirtualChannelNames:  vchans,
		PhysicalChannelNames: pchans,
		CreatedTimestamp:     created,
		CreatedUtcTimestamp:  utcMillis(info.CreatedAt),
		ShardsNum:            shards,
		Aliases:              append([]string{}, info.Aliases...),
		ConsistencyLevel:     info.ConsistencyLevel,
		CollectionName:       info.Name,
		Properties:           info.Properties,
		DbName:               info.DB,
		NumPartitions:        int64(len(info.Partitions)),
		RequestTime:          s.tso.next(),
		UpdateTimestamp:      created,
		UpdateTimestampStr:   strconv.FormatUint(created, 10),
	}, nil
}

// publicSchema is schema as Milvus describes it: without the hidden
// dynamic field ("$meta", IsDynamic), whose presence enable_dynamic_field
// reports instead. A client that re-sends a described schema would
// otherwise send "$meta" as a field of its own, which is refused. schema
// itself is not modified (the engine shares it).
func publicSchema(schema *schemapb.CollectionSchema) *schemapb.CollectionSchema {
	dyn := false
	for _, f := range schema.GetFields() {
		if f.GetIsDynamic() {
			dyn = true
			break
		}
	}
	if !dyn {
		return schema
	}
	out := proto.Clone(schema).(*schemapb.CollectionSchema)
	fields := out.Fields[:0]
	for _, f := range out.Fields {
		if !f.GetIsDynamic() {
			fields = append(fields, f)
		}
	}
	out.Fields = fields
	out.EnableDynamicField = true
	return out
}

// ShowCollections lists collections; with Type InMemory only loaded ones.
func (s *Server) ShowCollections(ctx context.Context, req *milvuspb.ShowCollectionsRequest) (*milvuspb.ShowCollectionsResponse, error) {
	db := dbName(ctx, req.GetDbName())
	infos, err := s.eng.ListCollections(db)
	if err != nil {
		return &milvuspb.ShowCollectionsResponse{Status: errStatus(err)}, nil
	}
	resp := &milvuspb.ShowCollectionsResponse{Status: successStatus()}
	wanted := map[string]bool{}
	for _, n := range req.GetCollectionNames() {
		wanted[n] = true
	}
	byName := map[string]*engine.CollectionInfo{}
	for _, info := range infos {
		byName[info.Name] = info
	}
	if req.GetType() == milvuspb.ShowType_InMemory {
		for _, n := range req.GetCollectionNames() {
			info, found := byName[n]
			if !found {
				return &milvuspb.ShowCollectionsResponse{Status: errStatus(merr.CollectionNotFound(n))}, nil
			}
			if !info.Loaded {
				return &milvuspb.ShowCollectionsResponse{Status: errStatus(merr.CollectionNotLoaded(n))}, nil
			}
		}
	}
	for _, info := range infos {
		if len(wanted) > 0 && !wanted[info.Name] {
			continue
		}
		if req.GetType() == milvuspb.ShowType_InMemory && !info.Loaded {
			continue
		}
		pct := int64(0)
		if info.Loaded {
			pct = 100
		}
		resp.CollectionNames = append(resp.CollectionNames, info.Name)
		resp.CollectionIds = append(resp.CollectionIds, info.ID)
		resp.CreatedTimestamps = append(resp.CreatedTimestamps, hybridTS(info.CreatedAt))
		resp.CreatedUtcTimestamps = append(resp.CreatedUtcTimestamps, utcMillis(info.CreatedAt))
		resp.InMemoryPercentages = append(resp.InMemoryPercentages, pct)
		resp.QueryServiceAvailable = append(resp.QueryServiceAvailable, info.Loaded)
		resp.ShardsNum = append(resp.ShardsNum, max(info.ShardsNum, 1))
	}
	return resp, nil
}

// GetCollectionStatistics reports the collection's row count.
func (s *Server) GetCollectionStatistics(ctx context.Context, req *milvuspb.GetCollectionStatisticsRequest) (*milvuspb.GetCollectionStatisticsResponse, error) {
	st, err := s.eng.CollectionStats(dbName(ctx, req.GetDbName()), req.GetCollectionName())
	if err != nil {
		return &milvuspb.GetCollectionStatisticsResponse{Status: errStatus(err)}, nil
	}
	return &milvuspb.GetCollectionStatisticsResponse{
		Status: successStatus(),
		Stats:  []*commonpb.KeyValuePair{{Key: "row_count", Value: strconv.FormatInt(st.RowCount, 10)}},
	}, nil
}
