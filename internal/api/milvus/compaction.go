package milvus

import (
	"context"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
)

// Compaction (engine/compact.go): ManualCompaction writes one record that
// every member applies by compacting its own segments of the collection;
// the compaction ID is that record's LSN. The states and merge plans are
// this node's.

// ManualCompaction requests a compaction of a collection (named, or by ID
// when the name is empty). As Milvus, the ID is -1 with no plan when
// nothing can be merged or purged.
func (s *Server) ManualCompaction(ctx context.Context, req *milvuspb.ManualCompactionRequest) (*milvuspb.ManualCompactionResponse, error) {
	db := dbName(ctx, req.GetDbName())
	info, err := s.describe(db, req.GetCollectionName(), req.GetCollectionID())
	if err != nil {
		return &milvuspb.ManualCompactionResponse{Status: errStatus(err)}, nil
	}
	id, plans, err := s.eng.Compact(ctx, db, info.Name)
	if err != nil {
		return &milvuspb.ManualCompactionResponse{Status: errStatus(err)}, nil
	}
	return &milvuspb.ManualCompactionResponse{Status: successStatus(), CompactionID: id, CompactionPlanCount: int32(plans)}, nil
}

// GetCompactionState reports a manual compaction: Executing while this
// node has not finished it, else Completed with its plan count (an
// unknown ID is Completed with no plans, as in Milvus).
func (s *Server) GetCompactionState(ctx context.Context, req *milvuspb.GetCompactionStateRequest) (*milvuspb.GetCompactionStateResponse, error) {
	st := s.eng.CompactionState(req.GetCompactionID())
	resp := &milvuspb.GetCompactionStateResponse{Status: successStatus(), State: st.MilvusState()}
	if st.Executing {
		resp.ExecutingPlanNo = 1
	} else {
		resp.CompletedPlanNo = int64(len(st.Plans))
	}
	return resp, nil
}

// GetCompactionStateWithPlans reports a manual compaction with its merges
// (source segment IDs and the target segment ID, local to this node).
func (s *Server) GetCompactionStateWithPlans(ctx context.Context, req *milvuspb.GetCompactionPlansRequest) (*milvuspb.GetCompactionPlansResponse, error) {
	st := s.eng.CompactionState(req.GetCompactionID())
	resp := &milvuspb.GetCompactionPlansResponse{Status: successStatus(), State: st.MilvusState(), MergeInfos: []*milvuspb.CompactionMergeInfo{}}
	for _, p := range st.Plans {
		resp.MergeInfos = append(resp.MergeInfos, &milvuspb.CompactionMergeInfo{Sources: p.Sources, Target: p.Target})
	}
	return resp, nil
}

// restCompactReq is the body of POST /v2/vectordb/collections/compact.
type restCompactReq struct {
	restBase
	IsClustering bool `json:"isClustering"`
}

// restCompact answers {"compactionID": id}, as Milvus.
func (s *Server) restCompact(ctx context.Context, req *restCompactReq) (any, error) {
	name, err := req.collection()
	if err != nil {
		return nil, err
	}
	id, _, err := s.eng.Compact(ctx, dbName(ctx, req.DbName), name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"compactionID": id}, nil
}

// restCompactionStateReq is the body of POST
// /v2/vectordb/collections/get_compaction_state.
type restCompactionStateReq struct {
	JobID int64 `json:"jobID"`
}

// restGetCompactionState answers the state as Milvus's REST API does.
func (s *Server) restGetCompactionState(ctx context.Context, req *restCompactionStateReq) (any, error) {
	resp, _ := s.GetCompactionState(ctx, &milvuspb.GetCompactionStateRequest{CompactionID: req.JobID})
	return map[string]any{
		"compactionID":        req.JobID,
		"state":               resp.GetState().String(),
		"executingPlanNumber": resp.GetExecutingPlanNo(),
		"timeoutPlanNumber":   resp.GetTimeoutPlanNo(),
		"completedPlanNumber": resp.GetCompletedPlanNo(),
	}, nil
}
