package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/index/distance"
	"github.com/tandem-db/tandem/internal/index/flat"
	"github.com/tandem-db/tandem/internal/merr"
)

// Range and group-by search (Tandem issue 16).
//
// Range search: the search params "radius" and "range_filter" bound the
// kept scores as Milvus does — L2: range_filter <= distance < radius;
// IP and COSINE: radius < score <= range_filter — and the top-k is taken
// among the rows in range. It scans exactly (ANN indexes are not used), so
// its results are those of a brute-force search.
//
// Group-by search: GroupByField names a Bool, Int8..Int64 or VarChar
// field; the result holds up to TopK groups (after skipping Offset
// groups), each of up to GroupSize hits, in the order Milvus's segcore
// produces them for one segment: hits are taken best first; a hit joins
// its group unless the group is full, a new group is opened while fewer
// than TopK+Offset groups exist; the scan stops once TopK+Offset groups
// exist (and, with StrictGroupSize, once all of them are full). Groups are
// output in the order they were opened, each group's hits best first;
// SearchResultData.GroupByFieldValue holds each hit's group value. The
// scan is exact too.

// Search parameter keys of a range search.
const (
	paramRadius      = "radius"
	paramRangeFilter = "range_filter"
)

// invalidMsg is Milvus's merr.WrapErrParameterInvalidMsg: "<msg>: invalid
// parameter", code 1100.
func invalidMsg(format string, args ...any) error {
	return merr.WithMessage(merr.ErrParameterInvalid, fmt.Sprintf(format, args...)+": "+merr.ErrParameterInvalid.Msg)
}

// rangeSpec is a parsed range search.
type rangeSpec struct {
	on                  bool
	hasFilter           bool
	radius, rangeFilter float32
}

// parseRange reads radius and range_filter from the search params and
// checks their order for metric, with Milvus's wording.
func parseRange(params map[string]string, metric distance.Metric) (rangeSpec, error) {
	rv, ok := params[paramRadius]
	if !ok {
		return rangeSpec{}, nil
	}
	radius, err := strconv.ParseFloat(strings.TrimSpace(rv), 64)
	if err != nil {
		return rangeSpec{}, invalidMsg("must pass numpy type for radius")
	}
	r := rangeSpec{on: true, radius: float32(radius)}
	fv, ok := params[paramRangeFilter]
	if !ok {
		return r, nil
	}
	rf, err := strconv.ParseFloat(strings.TrimSpace(fv), 64)
	if err != nil {
		return rangeSpec{}, invalidMsg("must pass numpy type for range_filter")
	}
	if metric.HigherIsBetter() {
		if radius >= rf {
			return rangeSpec{}, invalidMsg("range_filter must be greater than radius for IP/COSINE, range_filter:%f, radius:%f", rf, radius)
		}
	} else if radius <= rf {
		return rangeSpec{}, invalidMsg("range_filter must be less than radius for L2/HAMMING/JACCARD, range_filter:%f, radius:%f", rf, radius)
	}
	r.hasFilter, r.rangeFilter = true, float32(rf)
	return r, nil
}

// groupSpec is a parsed group-by search.
type groupSpec struct {
	field  int // index in c.fields
	typ    schemapb.DataType
	size   int
	strict bool
}

// segcoreTypeName is the name Milvus's segcore prints for a data type.
func segcoreTypeName(t schemapb.DataType) string {
	switch t {
	case schemapb.DataType_FloatVector:
		return "VECTOR_FLOAT"
	case schemapb.DataType_BinaryVector:
		return "VECTOR_BINARY"
	case schemapb.DataType_Float16Vector:
		return "VECTOR_FLOAT16"
	case schemapb.DataType_BFloat16Vector:
		return "VECTOR_BFLOAT16"
	case schemapb.DataType_SparseFloatVector:
		return "VECTOR_SPARSE_FLOAT"
	}
	return strings.ToUpper(t.String())
}

// parseGroupBy resolves req's group-by field (nil: no group-by).
func parseGroupBy(c *collection, req *SearchRequest) (*groupSpec, error) {
	name := req.GroupByField
	if name == "" {
		return nil, nil
	}
	fi, ok := c.field(name)
	if !ok {
		if c.dyn < 0 {
			return nil, fmt.Errorf("groupBy field not found in schema: %w", merr.FieldNotFound(name))
		}
		fi = c.dyn // a dynamic key: a JSON path, which cannot be grouped
	}
	f := &c.fields[fi]
	switch f.typ {
	case schemapb.DataType_Bool, schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32,
		schemapb.DataType_Int64, schemapb.DataType_VarChar:
	default:
		return nil, invalidMsg("unsupported data type %s for group by operator", segcoreTypeName(f.typ))
	}
	size := req.GroupSize
	if size <= 0 {
		size = 1
	}
	return &groupSpec{field: fi, typ: f.typ, size: size, strict: req.StrictGroupSize}, nil
}

// hitGroup is one group of a group-by search.
type hitGroup struct {
	val  any
	hits []flat.Hit
}

// value is the group value of a hit (ID: snapshot<<32 | row).
func (g *groupSpec) value(snaps []segSnap, id int64) any {
	data := snaps[id>>32].cols[g.field].data
	row := int(id & 0xffffffff)
	switch d := data.(type) {
	case []bool:
		return d[row]
	case []int8:
		return int64(d[row])
	case []int16:
		return int64(d[row])
	case []int32:
		return int64(d[row])
	case []int64:
		return d[row]
	case []string:
		return d[row]
	}
	return nil
}

// collect groups hits (best first) into at most want groups of at most
// g.size hits, as described in the package comment above. enough reports
// that the scan stopped by itself (more hits would not change the result).
func (g *groupSpec) collect(snaps []segSnap, hits []flat.Hit, want int) (groups []hitGroup, enough bool) {
	index := map[any]int{}
	full := 0
	for _, h := range hits {
		v := g.value(snaps, h.ID)
		gi, ok := index[v]
		if !ok {
			if len(groups) >= want {
				continue
			}
			gi = len(groups)
			index[v] = gi
			groups = append(groups, hitGroup{val: v})
		}
		if len(groups[gi].hits) >= g.size {
			continue
		}
		groups[gi].hits = append(groups[gi].hits, h)
		if len(groups[gi].hits) == g.size {
			full++
		}
		if len(groups) == want && (!g.strict || full == want) {
			return groups, true
		}
	}
	return groups, false
}

// MultiSearch runs several searches of one collection (the sub-requests of
// a hybrid search) on one snapshot: every one sees the same visible LSN.
// It returns each search's result and the metric its scores are in
// ("L2", "IP" or "COSINE").
func (e *Engine) MultiSearch(ctx context.Context, reqs []*SearchRequest) ([]*schemapb.SearchResultData, []string, error) {
	if err := e.check(); err != nil {
		return nil, nil, err
	}
	vis := e.visibleLSN()
	out := make([]*schemapb.SearchResultData, len(reqs))
	metrics := make([]string, len(reqs))
	for i, r := range reqs {
		res, m, err := e.search(ctx, r, vis)
		if err != nil {
			return nil, nil, err
		}
		out[i], metrics[i] = res, m.String()
	}
	return out, metrics, nil
}
