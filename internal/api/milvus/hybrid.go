package milvus

import (
	"context"
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/merr"
)

// HybridSearch runs several ANN searches (each with its own vector field,
// filter, params and limit) of one collection on one snapshot and merges
// them with the ranker of the rank params (rerank.go).
func (s *Server) HybridSearch(ctx context.Context, req *milvuspb.HybridSearchRequest) (*milvuspb.SearchResults, error) {
	fail := func(err error) (*milvuspb.SearchResults, error) {
		return &milvuspb.SearchResults{Status: errStatus(err), CollectionName: req.GetCollectionName()}, nil
	}
	if req.GetFunctionScore() != nil {
		return fail(merr.Wrapf(merr.ErrOperationNotSupported, "hybrid search with function score rerankers is not supported"))
	}
	n := len(req.GetRequests())
	if n == 0 {
		return fail(merr.InvalidParam("hybrid search needs at least one ann search request"))
	}
	if n > maxAnnRequests {
		return fail(fmt.Errorf("maximum of ann search requests is %d", maxAnnRequests))
	}
	rp, err := parseRankParams(req.GetRankParams())
	if err != nil {
		return fail(err)
	}
	db := dbName(ctx, req.GetDbName())
	var schema *schemapb.CollectionSchema
	if info, err := s.eng.DescribeCollection(db, req.GetCollectionName()); err == nil {
		schema = info.Schema
	}
	subs := make([]*engine.SearchRequest, n)
	nq := -1
	for i, sub := range req.GetRequests() {
		if sub.GetFunctionScore() != nil {
			return fail(merr.Wrapf(merr.ErrOperationNotSupported, "search with sub-requests or function score is not supported"))
		}
		sp, err := parseSearchParams(sub.GetSearchParams())
		if err != nil {
			return fail(err)
		}
		if sp.GroupBy != "" {
			return fail(merr.Wrapf(merr.ErrOperationNotSupported, "hybrid search with %s is not supported", spGroupBy))
		}
		vecs, err := decodePlaceholderGroup(sub.GetPlaceholderGroup(), sub.GetNq(), vectorDim(schema, sp.AnnsField))
		if err != nil {
			return fail(err)
		}
		if nq >= 0 && len(vecs) != nq {
			return fail(merr.InvalidParam("sub search request nq should be the same"))
		}
		nq = len(vecs)
		// A sub-request's offset is ignored, as in Milvus: offset and
		// round_decimal apply to the merged result.
		subs[i] = &engine.SearchRequest{
			DB:           db,
			Collection:   req.GetCollectionName(),
			Partitions:   req.GetPartitionNames(),
			AnnsField:    sp.AnnsField,
			Vectors:      vecs,
			TopK:         sp.TopK,
			MetricType:   sp.MetricType,
			Params:       sp.Params,
			Filter:       sub.GetDsl(),
			FilterParams: sub.GetExprTemplateValues(),
			OutputFields: req.GetOutputFields(),
			RoundDecimal: -1,
		}
	}
	results, metrics, err := s.eng.MultiSearch(ctx, subs)
	if err != nil {
		return fail(err)
	}
	ms, err := rerank(results, metrics, rp)
	if err != nil {
		return fail(err)
	}
	pk := primaryField(schema)
	pkType := schemapb.DataType_Int64
	if pk != nil {
		pkType = pk.GetDataType()
	}
	res := mergedResult(results, ms, rp.limit, pkType)
	withPrimaryKey(res, pk)
	return &milvuspb.SearchResults{Status: successStatus(), Results: res, CollectionName: req.GetCollectionName()}, nil
}
