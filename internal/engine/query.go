package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/expr"
	"github.com/tandem-db/tandem/internal/merr"
)

// countStar is the output field that turns a query into a count.
const countStar = "count(*)"

// Query returns the matching rows as columns; "count(*)" yields one Int64
// column named "count(*)". Rows come in primary-key order (Int64 keys
// numerically, VarChar keys bytewise), as Milvus returns them: a limit
// keeps the smallest keys after the offset, so the SDKs' query iterators,
// which page with "pk > last" and a limit, see every row once (see
// query_order.go). The primary key is always output.
func (e *Engine) Query(ctx context.Context, req *QueryRequest) ([]*schemapb.FieldData, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	count := false
	var outNames []string
	for _, f := range req.OutputFields {
		if strings.EqualFold(strings.ReplaceAll(f, " ", ""), countStar) {
			count = true
			continue
		}
		outNames = append(outNames, f)
	}
	if count && len(outNames) > 0 {
		return nil, invalid("count entities with other output fields is not supported: %v", req.OutputFields)
	}
	if count && (req.Limit > 0 || req.Offset > 0) {
		return nil, invalid("count entities with pagination is not allowed")
	}
	if req.Limit < 0 || req.Offset < 0 {
		return nil, invalid("limit (%d) and offset (%d) must not be negative", req.Limit, req.Offset)
	}
	if req.Limit > 0 && req.Limit+req.Offset > maxTopK {
		return nil, invalid("invalid max query result window, (offset+limit) should be in range [1, %d], but got %d", maxTopK, req.Limit+req.Offset)
	}
	if strings.TrimSpace(req.Filter) == "" && req.Limit == 0 && !count {
		return nil, invalid("empty expression should be used with limit")
	}

	vis := e.visibleLSN()
	e.mu.RLock()
	c, err := e.lookupLocked(req.DB, req.Collection)
	if err != nil {
		e.mu.RUnlock()
		return nil, err
	}
	if !c.loaded {
		e.mu.RUnlock()
		return nil, merr.CollectionNotLoaded(req.Collection)
	}
	parts, err := resolvePartitions(c, req.Partitions)
	if err != nil {
		e.mu.RUnlock()
		return nil, err
	}
	snaps := e.snapshotLocked(c, parts, vis)
	e.mu.RUnlock()

	var sp outputSpec
	if !count {
		if sp, err = resolveOutput(c, outNames, true); err != nil {
			return nil, err
		}
	}
	var x *expr.Expr
	if strings.TrimSpace(req.Filter) != "" {
		if x, err = expr.ParseWithTemplates(req.Filter, c.exprSchema, req.FilterParams); err != nil {
			return nil, err
		}
	}
	want := int64(-1) // rows to collect (offset+limit), -1 = all
	if req.Limit > 0 {
		want = req.Offset + req.Limit
	}
	var rows []rowRef
	var n int64
	if count {
		_, n, err = matchRows(ctx, c, snaps, x, -1, true)
	} else {
		rows, err = matchRowsByPK(ctx, c, snaps, x, want)
	}
	if err != nil {
		return nil, err
	}
	if count {
		return []*schemapb.FieldData{{
			Type: schemapb.DataType_Int64, FieldName: countStar,
			Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{
				Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: []int64{n}}},
			}},
		}}, nil
	}
	if int64(len(rows)) > req.Offset {
		rows = rows[req.Offset:]
	} else {
		rows = nil
	}
	return buildOutput(c, sp, snaps, rows), nil
}

// matchRows returns the visible live rows matching x (nil = all), stopping
// after want rows (want < 0: no limit); with countOnly it only counts.
func matchRows(ctx context.Context, c *collection, snaps []segSnap, x *expr.Expr, want int64, countOnly bool) ([]rowRef, int64, error) {
	var rows []rowRef
	var n int64
	err := forEachMatch(ctx, c, snaps, x, func(r rowRef) bool {
		n++
		if !countOnly {
			rows = append(rows, r)
			if want >= 0 && int64(len(rows)) >= want {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	return rows, n, nil
}

// forEachMatch calls fn with each visible live row matching x (nil = all),
// in snapshot and row order, until fn returns false.
func forEachMatch(ctx context.Context, c *collection, snaps []segSnap, x *expr.Expr, fn func(rowRef) bool) error {
	var ints map[int64]bool
	var strs map[string]bool
	pkFast := false
	if x != nil {
		if iv, sv, ok := x.PrimaryKeyValues(); ok {
			pkFast = true
			ints, strs = make(map[int64]bool, len(iv)), make(map[string]bool, len(sv))
			for _, k := range iv {
				ints[k] = true
			}
			for _, k := range sv {
				strs[k] = true
			}
		}
	}
	var match []bool
	for si := range snaps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("engine: query: %w", err)
		}
		ss := &snaps[si]
		match = growBools(match, ss.n)
		switch {
		case pkFast:
			switch v := ss.cols[c.pk].data.(type) {
			case []int64:
				for i := range ss.n {
					match[i] = ints[v[i]]
				}
			case []string:
				for i := range ss.n {
					match[i] = strs[v[i]]
				}
			}
		case x != nil:
			if err := x.Eval(segSource{c: c, ss: ss}, match); err != nil {
				return err
			}
		default:
			for i := range match {
				match[i] = true
			}
		}
		for row := 0; row < ss.n; row++ {
			if !match[row] || !ss.live(row) {
				continue
			}
			if !fn(rowRef{snap: int32(si), row: int32(row)}) {
				return nil
			}
		}
	}
	return nil
}
