package clusterproxy

import (
	"context"
	"sync"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/coord"
	"github.com/tandem-db/tandem/internal/merr"
)

// split is the rows of one write for one group.
type split struct {
	group string
	rows  []int
}

// route assigns the rows of fields to groups by primary key; for an
// auto-id collection it first adds the primary key column with ids from
// the root's allocator. It returns the (possibly extended) columns, the
// primary keys in row order and the per-group row lists.
func (p *Proxy) route(ctx context.Context, m *coord.CollectionMeta, fields []*schemapb.FieldData, nrows int, insert bool) ([]*schemapb.FieldData, *schemapb.IDs, []split, *commonpb.Status) {
	schema, err := m.DecodeSchema()
	if err != nil {
		return nil, nil, nil, merr.Status(merr.Wrapf(merr.ErrServiceInternal, "%v", err))
	}
	var pkf *schemapb.FieldSchema
	for _, f := range schema.GetFields() {
		if f.GetIsPrimaryKey() {
			pkf = f
		}
	}
	if pkf == nil {
		return nil, nil, nil, merr.Status(merr.Wrapf(merr.ErrServiceInternal, "collection %s has no primary key in the catalog", m.Name))
	}
	var pkCol *schemapb.FieldData
	for _, f := range fields {
		if f.GetFieldName() == pkf.GetName() {
			pkCol = f
		}
	}
	autoID := pkf.GetAutoID() || schema.GetAutoID()
	if pkCol == nil && autoID && nrows > 0 {
		first, err := p.allocIDs(ctx, nrows)
		if err != nil {
			return nil, nil, nil, unavailable(err)
		}
		ids := make([]int64, nrows)
		for i := range ids {
			ids[i] = first + int64(i)
		}
		pkCol = &schemapb.FieldData{Type: schemapb.DataType_Int64, FieldName: pkf.GetName(), FieldId: pkf.GetFieldID(),
			Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}}
		fields = append(append([]*schemapb.FieldData(nil), fields...), pkCol)
	} else if pkCol != nil && autoID && insert {
		return nil, nil, nil, merr.Status(merr.Wrapf(merr.ErrParameterInvalid, "the primary key field %s is auto-generated (auto_id): do not send it", pkf.GetName()))
	}
	if pkCol == nil {
		return nil, nil, nil, merr.Status(merr.Wrapf(merr.ErrParameterInvalid, "the primary key field %s is missing", pkf.GetName()))
	}
	byGroup := map[string][]int{}
	var order []string
	var ids *schemapb.IDs
	add := func(row, shard int) {
		g := m.Shards[shard]
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], row)
	}
	if d := pkCol.GetScalars().GetLongData(); d != nil {
		if len(d.Data) < nrows {
			return nil, nil, nil, merr.Status(merr.Wrapf(merr.ErrParameterInvalid, "the num_rows (%d) of field (%s) is not equal to passed num_rows (%d)", len(d.Data), pkf.GetName(), nrows))
		}
		for i := 0; i < nrows; i++ {
			add(i, coord.ShardOfInt(d.Data[i], m.ShardsNum))
		}
		ids = &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: d.Data[:nrows]}}}
	} else if d := pkCol.GetScalars().GetStringData(); d != nil {
		if len(d.Data) < nrows {
			return nil, nil, nil, merr.Status(merr.Wrapf(merr.ErrParameterInvalid, "the num_rows (%d) of field (%s) is not equal to passed num_rows (%d)", len(d.Data), pkf.GetName(), nrows))
		}
		for i := 0; i < nrows; i++ {
			add(i, coord.ShardOfString(d.Data[i], m.ShardsNum))
		}
		ids = &schemapb.IDs{IdField: &schemapb.IDs_StrId{StrId: &schemapb.StringArray{Data: d.Data[:nrows]}}}
	} else {
		return nil, nil, nil, merr.Status(merr.Wrapf(merr.ErrParameterInvalid, "the primary key field %s has no data", pkf.GetName()))
	}
	out := make([]split, 0, len(order))
	for _, g := range order {
		out = append(out, split{group: g, rows: byGroup[g]})
	}
	return fields, ids, out, nil
}

// write sends each group its rows (through call) and merges the results.
func (p *Proxy) write(ctx context.Context, fields []*schemapb.FieldData, ids *schemapb.IDs, splits []split,
	call func(ctx context.Context, cli milvuspb.MilvusServiceClient, cols []*schemapb.FieldData, n int) (*milvuspb.MutationResult, error)) *milvuspb.MutationResult {
	out := &milvuspb.MutationResult{Status: okStatus(), IDs: ids}
	var mu sync.Mutex
	groups := make([]string, len(splits))
	for i, s := range splits {
		groups[i] = s.group
	}
	err := p.fanout(ctx, groups, func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) error {
		picks := make([]pick, len(splits[i].rows))
		for j, r := range splits[i].rows {
			picks[j] = pick{Src: 0, Row: r}
		}
		cols, err := pickRows([][]*schemapb.FieldData{fields}, picks)
		if err != nil {
			return err
		}
		r, err := call(ctx, cli, cols, len(picks))
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if failed(r.GetStatus()) {
			out.Status = r.GetStatus()
			return nil
		}
		out.InsertCnt += r.GetInsertCnt()
		out.UpsertCnt += r.GetUpsertCnt()
		out.DeleteCnt += r.GetDeleteCnt()
		out.Timestamp = max(out.Timestamp, r.GetTimestamp())
		return nil
	})
	if err != nil {
		return &milvuspb.MutationResult{Status: unavailable(err)}
	}
	if failed(out.Status) {
		return &milvuspb.MutationResult{Status: out.Status}
	}
	n := 0
	if l := ids.GetIntId(); l != nil {
		n = len(l.Data)
	} else if s := ids.GetStrId(); s != nil {
		n = len(s.Data)
	}
	out.SuccIndex = make([]uint32, n)
	for i := range out.SuccIndex {
		out.SuccIndex[i] = uint32(i)
	}
	return out
}

func (p *Proxy) Insert(ctx context.Context, req *milvuspb.InsertRequest) (*milvuspb.MutationResult, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.MutationResult{Status: st}, nil
	}
	fields, ids, splits, st := p.route(ctx, m, req.GetFieldsData(), int(req.GetNumRows()), true)
	if st != nil {
		return &milvuspb.MutationResult{Status: st}, nil
	}
	return p.write(ctx, fields, ids, splits, func(ctx context.Context, cli milvuspb.MilvusServiceClient, cols []*schemapb.FieldData, n int) (*milvuspb.MutationResult, error) {
		return cli.Insert(ctx, &milvuspb.InsertRequest{Base: req.Base, DbName: req.DbName, CollectionName: req.CollectionName,
			PartitionName: req.PartitionName, FieldsData: cols, NumRows: uint32(n), SchemaTimestamp: req.SchemaTimestamp})
	}), nil
}

func (p *Proxy) Upsert(ctx context.Context, req *milvuspb.UpsertRequest) (*milvuspb.MutationResult, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.MutationResult{Status: st}, nil
	}
	fields, ids, splits, st := p.route(ctx, m, req.GetFieldsData(), int(req.GetNumRows()), false)
	if st != nil {
		return &milvuspb.MutationResult{Status: st}, nil
	}
	return p.write(ctx, fields, ids, splits, func(ctx context.Context, cli milvuspb.MilvusServiceClient, cols []*schemapb.FieldData, n int) (*milvuspb.MutationResult, error) {
		return cli.Upsert(ctx, &milvuspb.UpsertRequest{Base: req.Base, DbName: req.DbName, CollectionName: req.CollectionName,
			PartitionName: req.PartitionName, FieldsData: cols, NumRows: uint32(n), SchemaTimestamp: req.SchemaTimestamp, PartialUpdate: req.PartialUpdate})
	}), nil
}

// Delete goes to every group of the collection (by expression or by
// primary key alike: a group without the rows deletes nothing); the
// counts are summed.
func (p *Proxy) Delete(ctx context.Context, req *milvuspb.DeleteRequest) (*milvuspb.MutationResult, error) {
	m, st := p.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.MutationResult{Status: st}, nil
	}
	out := &milvuspb.MutationResult{Status: okStatus()}
	var mu sync.Mutex
	var intIDs []int64
	var strIDs []string
	err := p.fanout(ctx, m.Groups, func(ctx context.Context, i int, cli milvuspb.MilvusServiceClient) error {
		r, err := cli.Delete(ctx, req)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if failed(r.GetStatus()) {
			out.Status = r.GetStatus()
			return nil
		}
		out.DeleteCnt += r.GetDeleteCnt()
		out.Timestamp = max(out.Timestamp, r.GetTimestamp())
		intIDs = append(intIDs, r.GetIDs().GetIntId().GetData()...)
		strIDs = append(strIDs, r.GetIDs().GetStrId().GetData()...)
		return nil
	})
	if err != nil {
		return &milvuspb.MutationResult{Status: unavailable(err)}, nil
	}
	if failed(out.Status) {
		return &milvuspb.MutationResult{Status: out.Status}, nil
	}
	if len(strIDs) > 0 {
		out.IDs = &schemapb.IDs{IdField: &schemapb.IDs_StrId{StrId: &schemapb.StringArray{Data: strIDs}}}
	} else {
		out.IDs = &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: intIDs}}}
	}
	return out, nil
}
