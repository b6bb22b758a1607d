package milvus

import (
	"context"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/merr"
)

// AddCollectionField appends a (nullable) field to a collection.
func (s *Server) AddCollectionField(ctx context.Context, req *milvuspb.AddCollectionFieldRequest) (*commonpb.Status, error) {
	f := &schemapb.FieldSchema{}
	if err := proto.Unmarshal(req.GetSchema(), f); err != nil {
		return errStatus(merr.InvalidParam("cannot decode the field schema: %v", err)), nil
	}
	return errStatus(s.eng.AddCollectionField(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(), f)), nil
}

// AlterCollection sets collection properties, or removes them (DeleteKeys:
// the SDK's DropCollectionProperties).
func (s *Server) AlterCollection(ctx context.Context, req *milvuspb.AlterCollectionRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.AlterCollectionProperties(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(),
		req.GetProperties(), req.GetDeleteKeys())), nil
}

// AlterCollectionField changes a field's parameters.
func (s *Server) AlterCollectionField(ctx context.Context, req *milvuspb.AlterCollectionFieldRequest) (*commonpb.Status, error) {
	return errStatus(s.eng.AlterCollectionField(ctx, dbName(ctx, req.GetDbName()), req.GetCollectionName(),
		req.GetFieldName(), req.GetProperties(), req.GetDeleteKeys())), nil
}
