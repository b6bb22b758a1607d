package clusterproxy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/coord"
	"github.com/tandem-db/tandem/internal/merr"
)

// lookup returns db/coll's catalog entry or the Milvus "collection not
// found" status.
func (p *Proxy) lookup(ctx context.Context, db, coll string) (*coord.CollectionMeta, *commonpb.Status) {
	m, err := p.cat.get(ctx, db, coll)
	if err != nil {
		return nil, merr.Status(merr.Wrapf(merr.ErrServiceUnavailable, "%v", err))
	}
	if m == nil {
		return nil, merr.Status(merr.CollectionNotFound(coll))
	}
	return m, nil
}

// fanout runs call on every group concurrently; the first error wins.
func (p *Proxy) fanout(ctx context.Context, groups []string, call func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) error) error {
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli, err := p.pool.Client(ctx, g)
			if err == nil {
				err = call(ctx, i, cli)
			}
			if err != nil {
				errs[i] = fmt.Errorf("group %s: %w", g, err)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func unavailable(err error) *commonpb.Status {
	return merr.Status(merr.Wrapf(merr.ErrServiceUnavailable, "%v", err))
}

func (p *Proxy) HasCollection(ctx context.Context, req *milvuspb.HasCollectionRequest) (*milvuspb.BoolResponse, error) {
	m, err := p.cat.get(ctx, req.GetDbName(), req.GetCollectionName())
	if err != nil {
		return &milvuspb.BoolResponse{Status: unavailable(err)}, nil
	}
	return &milvuspb.BoolResponse{Status: okStatus(), Value: m != nil}, nil
}

func (p *Proxy) ShowCollections(ctx context.Context, req *milvuspb.ShowCollectionsRequest) (*milvuspb.ShowCollectionsResponse, error) {
	all, err := p.cat.list(ctx, req.GetDbName())
	if err != nil {
		return &milvuspb.ShowCollectionsResponse{Status: unavailable(err)}, nil
	}
	out := &milvuspb.ShowCollectionsResponse{Status: okStatus()}
	for _, m := range all {
		out.CollectionNames = append(out.CollectionNames, m.Name)
		out.CollectionIds = append(out.CollectionIds, m.ID)
		out.CreatedUtcTimestamps = append(out.CreatedUtcTimestamps, uint64(m.CreatedUnixMs))
		out.CreatedTimestamps = append(out.CreatedTimestamps, uint64(m.CreatedUnixMs)<<coord.LogicalBits)
		out.InMemoryPercentages = append(out.InMemoryPercentages, 0)
	}
	return out, nil
}

// DescribeCollection answers from the first group, with the cluster's
// id, shard count and the schema's auto-id as the client created it.
func (p *Proxy) DescribeCollection(ctx context.Context, req *milvuspb.DescribeCollectionRequest) (*milvuspb.DescribeCollectionResponse, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.DescribeCollectionResponse{Status: st}, nil
	}
	cli, err := p.pool.Client(ctx, m.Groups[0])
	if err != nil {
		return &milvuspb.DescribeCollectionResponse{Status: unavailable(err)}, nil
	}
	resp, err := cli.DescribeCollection(ctx, req)
	if err != nil || failed(resp.GetStatus()) {
		return resp, err
	}
	resp.CollectionID, resp.ShardsNum = m.ID, int32(m.ShardsNum)
	if s, err := m.DecodeSchema(); err == nil && resp.Schema != nil {
		resp.Schema.AutoID = s.GetAutoID()
		for _, f := range resp.Schema.Fields {
			if f.IsPrimaryKey {
				f.AutoID = s.GetAutoID()
				for _, sf := range s.Fields {
					if sf.GetName() == f.GetName() {
						f.AutoID = f.AutoID || sf.GetAutoID()
					}
				}
			}
		}
	}
	return resp, nil
}

func (p *Proxy) DescribeIndex(ctx context.Context, req *milvuspb.DescribeIndexRequest) (*milvuspb.DescribeIndexResponse, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.DescribeIndexResponse{Status: st}, nil
	}
	resps := make([]*milvuspb.DescribeIndexResponse, len(m.Groups))
	if err := p.fanout(ctx, m.Groups, func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) (err error) {
		resps[i], err = cli.DescribeIndex(ctx, req)
		return err
	}); err != nil {
		return &milvuspb.DescribeIndexResponse{Status: unavailable(err)}, nil
	}
	out := resps[0]
	for _, r := range resps {
		if failed(r.GetStatus()) {
			return r, nil
		}
	}
	// An index is finished only when every group (so every shard) has it.
	for i, d := range out.IndexDescriptions {
		for _, r := range resps[1:] {
			if i >= len(r.IndexDescriptions) {
				continue
			}
			o := r.IndexDescriptions[i]
			d.IndexedRows += o.IndexedRows
			d.TotalRows += o.TotalRows
			d.PendingIndexRows += o.PendingIndexRows
			if o.State != commonpb.IndexState_Finished {
				d.State = o.State
				if o.IndexStateFailReason != "" {
					d.IndexStateFailReason = o.IndexStateFailReason
				}
			}
		}
	}
	return out, nil
}

func (p *Proxy) GetIndexState(ctx context.Context, req *milvuspb.GetIndexStateRequest) (*milvuspb.GetIndexStateResponse, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.GetIndexStateResponse{Status: st}, nil
	}
	resps := make([]*milvuspb.GetIndexStateResponse, len(m.Groups))
	if err := p.fanout(ctx, m.Groups, func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) (err error) {
		resps[i], err = cli.GetIndexState(ctx, req)
		return err
	}); err != nil {
		return &milvuspb.GetIndexStateResponse{Status: unavailable(err)}, nil
	}
	for _, r := range resps {
		if failed(r.GetStatus()) || r.State != commonpb.IndexState_Finished {
			return r, nil
		}
	}
	return resps[0], nil
}

func (p *Proxy) GetLoadState(ctx context.Context, req *milvuspb.GetLoadStateRequest) (*milvuspb.GetLoadStateResponse, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.GetLoadStateResponse{Status: st}, nil
	}
	resps := make([]*milvuspb.GetLoadStateResponse, len(m.Groups))
	if err := p.fanout(ctx, m.Groups, func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) (err error) {
		resps[i], err = cli.GetLoadState(ctx, req)
		return err
	}); err != nil {
		return &milvuspb.GetLoadStateResponse{Status: unavailable(err)}, nil
	}
	// The collection is as loaded as its least loaded group.
	rank := map[commonpb.LoadState]int{commonpb.LoadState_LoadStateNotExist: 0, commonpb.LoadState_LoadStateNotLoad: 1,
		commonpb.LoadState_LoadStateLoading: 2, commonpb.LoadState_LoadStateLoaded: 3}
	out := resps[0]
	for _, r := range resps {
		if failed(r.GetStatus()) {
			return r, nil
		}
		if rank[r.State] < rank[out.State] {
			out = r
		}
	}
	return out, nil
}

func (p *Proxy) GetLoadingProgress(ctx context.Context, req *milvuspb.GetLoadingProgressRequest) (*milvuspb.GetLoadingProgressResponse, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.GetLoadingProgressResponse{Status: st}, nil
	}
	resps := make([]*milvuspb.GetLoadingProgressResponse, len(m.Groups))
	if err := p.fanout(ctx, m.Groups, func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) (err error) {
		resps[i], err = cli.GetLoadingProgress(ctx, req)
		return err
	}); err != nil {
		return &milvuspb.GetLoadingProgressResponse{Status: unavailable(err)}, nil
	}
	out := resps[0]
	for _, r := range resps {
		if failed(r.GetStatus()) {
			return r, nil
		}
		if r.Progress < out.Progress {
			out = r
		}
	}
	return out, nil
}

func (p *Proxy) GetCollectionStatistics(ctx context.Context, req *milvuspb.GetCollectionStatisticsRequest) (*milvuspb.GetCollectionStatisticsResponse, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.GetCollectionStatisticsResponse{Status: st}, nil
	}
	var mu sync.Mutex
	var rows int64
	var bad *commonpb.Status
	if err := p.fanout(ctx, m.Groups, func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) error {
		r, err := cli.GetCollectionStatistics(ctx, req)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if failed(r.GetStatus()) {
			bad = r.GetStatus()
		}
		for _, kv := range r.Stats {
			if kv.Key == "row_count" {
				n, _ := strconv.ParseInt(kv.Value, 10, 64)
				rows += n
			}
		}
		return nil
	}); err != nil {
		return &milvuspb.GetCollectionStatisticsResponse{Status: unavailable(err)}, nil
	}
	if bad != nil {
		return &milvuspb.GetCollectionStatisticsResponse{Status: bad}, nil
	}
	return &milvuspb.GetCollectionStatisticsResponse{Status: okStatus(),
		Stats: []*commonpb.KeyValuePair{{Key: "row_count", Value: strconv.FormatInt(rows, 10)}}}, nil
}

func (p *Proxy) ShowPartitions(ctx context.Context, req *milvuspb.ShowPartitionsRequest) (*milvuspb.ShowPartitionsResponse, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.ShowPartitionsResponse{Status: st}, nil
	}
	cli, err := p.pool.Client(ctx, m.Groups[0])
	if err != nil {
		return &milvuspb.ShowPartitionsResponse{Status: unavailable(err)}, nil
	}
	return cli.ShowPartitions(ctx, req)
}

func (p *Proxy) HasPartition(ctx context.Context, req *milvuspb.HasPartitionRequest) (*milvuspb.BoolResponse, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.BoolResponse{Status: st}, nil
	}
	cli, err := p.pool.Client(ctx, m.Groups[0])
	if err != nil {
		return &milvuspb.BoolResponse{Status: unavailable(err)}, nil
	}
	return cli.HasPartition(ctx, req)
}

// Flush flushes every group of each collection; the segment lists of the
// answer are left empty (segment ids are per group), so the SDK's wait
// asks GetFlushState by collection, which every group answers.
func (p *Proxy) Flush(ctx context.Context, req *milvuspb.FlushRequest) (*milvuspb.FlushResponse, error) {
	out := &milvuspb.FlushResponse{Status: okStatus(), DbName: req.GetDbName(),
		CollSegIDs: map[string]*schemapb.LongArray{}, FlushCollSegIDs: map[string]*schemapb.LongArray{},
		CollSealTimes: map[string]int64{}, CollFlushTs: map[string]uint64{}}
	for _, coll := range req.GetCollectionNames() {
		m, st := p.lookup(ctx, req.GetDbName(), coll)
		if st != nil {
			return &milvuspb.FlushResponse{Status: st}, nil
		}
		var mu sync.Mutex
		var bad *commonpb.Status
		var ts uint64
		one := &milvuspb.FlushRequest{Base: req.Base, DbName: req.DbName, CollectionNames: []string{coll}}
		if err := p.fanout(ctx, m.Groups, func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) error {
			r, err := cli.Flush(ctx, one)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if failed(r.GetStatus()) {
				bad = r.GetStatus()
			}
			ts = max(ts, r.GetCollFlushTs()[coll])
			return nil
		}); err != nil {
			return &milvuspb.FlushResponse{Status: unavailable(err)}, nil
		}
		if bad != nil {
			return &milvuspb.FlushResponse{Status: bad}, nil
		}
		out.CollSegIDs[coll] = &schemapb.LongArray{}
		out.FlushCollSegIDs[coll] = &schemapb.LongArray{}
		out.CollFlushTs[coll] = ts
	}
	return out, nil
}

func (p *Proxy) GetFlushState(ctx context.Context, req *milvuspb.GetFlushStateRequest) (*milvuspb.GetFlushStateResponse, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.GetFlushStateResponse{Status: st}, nil
	}
	flushed := true
	var mu sync.Mutex
	one := &milvuspb.GetFlushStateRequest{DbName: req.DbName, CollectionName: req.CollectionName, FlushTs: req.FlushTs}
	if err := p.fanout(ctx, m.Groups, func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) error {
		r, err := cli.GetFlushState(ctx, one)
		if err != nil {
			return err
		}
		mu.Lock()
		flushed = flushed && !failed(r.GetStatus()) && r.GetFlushed()
		mu.Unlock()
		return nil
	}); err != nil {
		return &milvuspb.GetFlushStateResponse{Status: unavailable(err)}, nil
	}
	return &milvuspb.GetFlushStateResponse{Status: okStatus(), Flushed: flushed}, nil
}

// kv returns key's value in a parameter list.
func kv(params []*commonpb.KeyValuePair, key string) (string, bool) {
	for _, p := range params {
		if p.GetKey() == key {
			return p.GetValue(), true
		}
	}
	return "", false
}

// setKV returns params with key set to value (a copy).
func setKV(params []*commonpb.KeyValuePair, key, value string) []*commonpb.KeyValuePair {
	out := make([]*commonpb.KeyValuePair, 0, len(params)+1)
	for _, p := range params {
		if p.GetKey() != key {
			out = append(out, p)
		}
	}
	return append(out, &commonpb.KeyValuePair{Key: key, Value: value})
}

// largerIsBetter reports the score direction of a metric.
func largerIsBetter(metric string) bool {
	switch strings.ToUpper(metric) {
	case "IP", "COSINE", "BM25":
		return true
	}
	return false
}

// metricOf returns the metric of the searched field: from the request,
// else from the field's index (cached).
func (p *Proxy) metricOf(ctx context.Context, m *coord.CollectionMeta, req *milvuspb.SearchRequest) string {
	if v, ok := kv(req.GetSearchParams(), "metric_type"); ok && v != "" {
		return v
	}
	field, _ := kv(req.GetSearchParams(), "anns_field")
	key := m.DB + "/" + m.Name + "/" + field + "/" + strconv.FormatInt(m.ID, 10)
	p.metricMu.Lock()
	v, ok := p.metric[key]
	p.metricMu.Unlock()
	if ok {
		return v
	}
	cli, err := p.pool.Client(ctx, m.Groups[0])
	if err != nil {
		return "L2"
	}
	r, err := cli.DescribeIndex(ctx, &milvuspb.DescribeIndexRequest{DbName: req.GetDbName(), CollectionName: req.GetCollectionName(), FieldName: field})
	if err != nil || failed(r.GetStatus()) {
		return "L2"
	}
	metric := "L2"
	for _, d := range r.IndexDescriptions {
		if field == "" || d.FieldName == field {
			if v, ok := kv(d.Params, "metric_type"); ok {
				metric = v
			}
			break
		}
	}
	p.metricMu.Lock()
	p.metric[key] = metric
	p.metricMu.Unlock()
	return metric
}

// Search scatters to every group of the collection (asking each for
// offset+topk hits) and merges per query: the best topk after skipping
// offset, in the metric's direction.
func (p *Proxy) Search(ctx context.Context, req *milvuspb.SearchRequest) (*milvuspb.SearchResults, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.SearchResults{Status: st}, nil
	}
	if len(m.Groups) == 1 {
		cli, err := p.pool.Client(ctx, m.Groups[0])
		if err != nil {
			return &milvuspb.SearchResults{Status: unavailable(err)}, nil
		}
		return cli.Search(ctx, req)
	}
	if g, _ := kv(req.GetSearchParams(), "group_by_field"); g != "" {
		return &milvuspb.SearchResults{Status: merr.Status(merr.Wrapf(merr.ErrParameterInvalid, "group-by search over several shard groups is not supported by a Tandem cluster yet"))}, nil
	}
	topk, _ := strconv.Atoi(firstOf(req.GetSearchParams(), "topk", "limit"))
	offset, _ := strconv.Atoi(firstOf(req.GetSearchParams(), "offset"))
	sub := proto.Clone(req).(*milvuspb.SearchRequest)
	sub.SearchParams = setKV(setKV(req.GetSearchParams(), "topk", strconv.Itoa(topk+offset)), "offset", "0")
	resps := make([]*milvuspb.SearchResults, len(m.Groups))
	if err := p.fanout(ctx, m.Groups, func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) (err error) {
		resps[i], err = cli.Search(ctx, sub)
		return err
	}); err != nil {
		return &milvuspb.SearchResults{Status: unavailable(err)}, nil
	}
	for _, r := range resps {
		if failed(r.GetStatus()) {
			return r, nil
		}
	}
	larger := largerIsBetter(p.metricOf(ctx, m, req))
	res, err := mergeSearch(resps, topk, offset, larger)
	if err != nil {
		return &milvuspb.SearchResults{Status: merr.Status(merr.Wrapf(merr.ErrServiceInternal, "%v", err))}, nil
	}
	return &milvuspb.SearchResults{Status: okStatus(), Results: res, CollectionName: req.GetCollectionName(), SessionTs: resps[0].GetSessionTs()}, nil
}

func firstOf(params []*commonpb.KeyValuePair, keys ...string) string {
	for _, k := range keys {
		if v, ok := kv(params, k); ok {
			return v
		}
	}
	return ""
}

type hit struct {
	score float32
	src   int
	row   int
	id    any // int64 or string
}

func idAt(ids *schemapb.IDs, i int) any {
	if s := ids.GetStrId(); s != nil {
		return s.Data[i]
	}
	return ids.GetIntId().GetData()[i]
}

func lessID(a, b any) int {
	switch x := a.(type) {
	case int64:
		return cmp.Compare(x, b.(int64))
	case string:
		return cmp.Compare(x, b.(string))
	}
	return 0
}

// mergeSearch merges per-group search results (each already sorted per
// query) into one.
func mergeSearch(resps []*milvuspb.SearchResults, topk, offset int, larger bool) (*schemapb.SearchResultData, error) {
	var first *schemapb.SearchResultData
	for _, r := range resps {
		if r.GetResults() != nil {
			first = r.GetResults()
			break
		}
	}
	if first == nil {
		return &schemapb.SearchResultData{}, nil
	}
	nq := int(first.GetNumQueries())
	out := &schemapb.SearchResultData{NumQueries: int64(nq), TopK: int64(topk), OutputFields: first.GetOutputFields(),
		PrimaryFieldName: first.GetPrimaryFieldName()}
	var srcs [][]*schemapb.FieldData
	starts := make([]int, len(resps)) // running row offset per source
	var picks []pick
	var intIDs []int64
	var strIDs []string
	strKeys := false
	for _, r := range resps {
		srcs = append(srcs, r.GetResults().GetFieldsData())
		if r.GetResults().GetIds().GetStrId() != nil {
			strKeys = true
		}
	}
	for q := 0; q < nq; q++ {
		var hits []hit
		for s, r := range resps {
			rd := r.GetResults()
			if rd == nil || q >= len(rd.GetTopks()) {
				continue
			}
			n := int(rd.Topks[q])
			for j := 0; j < n; j++ {
				row := starts[s] + j
				hits = append(hits, hit{score: rd.Scores[row], src: s, row: row, id: idAt(rd.Ids, row)})
			}
			starts[s] += n
		}
		slices.SortStableFunc(hits, func(a, b hit) int {
			c := cmp.Compare(a.score, b.score)
			if larger {
				c = -c
			}
			if c == 0 {
				c = lessID(a.id, b.id)
			}
			return c
		})
		if offset < len(hits) {
			hits = hits[offset:]
		} else {
			hits = nil
		}
		if len(hits) > topk {
			hits = hits[:topk]
		}
		out.Topks = append(out.Topks, int64(len(hits)))
		for _, h := range hits {
			out.Scores = append(out.Scores, h.score)
			picks = append(picks, pick{Src: h.src, Row: h.row})
			if strKeys {
				strIDs = append(strIDs, h.id.(string))
			} else {
				intIDs = append(intIDs, h.id.(int64))
			}
		}
	}
	if strKeys {
		out.Ids = &schemapb.IDs{IdField: &schemapb.IDs_StrId{StrId: &schemapb.StringArray{Data: strIDs}}}
	} else {
		out.Ids = &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: intIDs}}}
	}
	fs, err := pickRows(srcs, picks)
	if err != nil {
		return nil, err
	}
	out.FieldsData = fs
	return out, nil
}

// Query scatters to every group and merges: count(*) is summed; rows are
// ordered by primary key, then offset and limit are applied.
func (p *Proxy) Query(ctx context.Context, req *milvuspb.QueryRequest) (*milvuspb.QueryResults, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.QueryResults{Status: st}, nil
	}
	if len(m.Groups) == 1 {
		cli, err := p.pool.Client(ctx, m.Groups[0])
		if err != nil {
			return &milvuspb.QueryResults{Status: unavailable(err)}, nil
		}
		return cli.Query(ctx, req)
	}
	limitS, hasLimit := kv(req.GetQueryParams(), "limit")
	limit, _ := strconv.Atoi(limitS)
	offset, _ := strconv.Atoi(firstOf(req.GetQueryParams(), "offset"))
	sub := proto.Clone(req).(*milvuspb.QueryRequest)
	if hasLimit {
		sub.QueryParams = setKV(setKV(req.GetQueryParams(), "limit", strconv.Itoa(limit+offset)), "offset", "0")
	}
	resps := make([]*milvuspb.QueryResults, len(m.Groups))
	if err := p.fanout(ctx, m.Groups, func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) (err error) {
		resps[i], err = cli.Query(ctx, sub)
		return err
	}); err != nil {
		return &milvuspb.QueryResults{Status: unavailable(err)}, nil
	}
	for _, r := range resps {
		if failed(r.GetStatus()) {
			return r, nil
		}
	}
	out := &milvuspb.QueryResults{Status: okStatus(), CollectionName: req.GetCollectionName(), OutputFields: resps[0].GetOutputFields()}
	if isCount(req.GetOutputFields()) {
		var total int64
		for _, r := range resps {
			for _, f := range r.GetFieldsData() {
				if d := f.GetScalars().GetLongData().GetData(); len(d) > 0 {
					total += d[0]
				}
			}
		}
		out.FieldsData = []*schemapb.FieldData{{Type: schemapb.DataType_Int64, FieldName: "count(*)",
			Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: []int64{total}}}}}}}
		return out, nil
	}
	schema, _ := m.DecodeSchema()
	pkName := ""
	for _, f := range schema.GetFields() {
		if f.GetIsPrimaryKey() {
			pkName = f.GetName()
		}
	}
	type row struct {
		src, row int
		pk       any
	}
	var rows []row
	var srcs [][]*schemapb.FieldData
	for s, r := range resps {
		srcs = append(srcs, r.GetFieldsData())
		var pkCol *schemapb.FieldData
		for _, f := range r.GetFieldsData() {
			if f.GetFieldName() == pkName {
				pkCol = f
			}
		}
		n := numRows(r.GetFieldsData())
		for j := 0; j < n; j++ {
			var pk any = int64(j)
			if pkCol != nil {
				if d := pkCol.GetScalars().GetLongData(); d != nil {
					pk = d.Data[j]
				} else if d := pkCol.GetScalars().GetStringData(); d != nil {
					pk = d.Data[j]
				}
			}
			rows = append(rows, row{s, j, pk})
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		if c := lessID(a.pk, b.pk); c != 0 {
			return c
		}
		return cmp.Compare(a.src, b.src)
	})
	if offset < len(rows) {
		rows = rows[offset:]
	} else {
		rows = nil
	}
	if hasLimit && len(rows) > limit {
		rows = rows[:limit]
	}
	picks := make([]pick, len(rows))
	for i, r := range rows {
		picks[i] = pick{Src: r.src, Row: r.row}
	}
	fs, err := pickRows(srcs, picks)
	if err != nil {
		return &milvuspb.QueryResults{Status: merr.Status(merr.Wrapf(merr.ErrServiceInternal, "%v", err))}, nil
	}
	out.FieldsData = fs
	return out, nil
}

func isCount(fields []string) bool {
	for _, f := range fields {
		if strings.EqualFold(strings.ReplaceAll(f, " ", ""), "count(*)") {
			return true
		}
	}
	return false
}
