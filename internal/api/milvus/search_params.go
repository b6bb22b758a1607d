package milvus

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/merr"
)

// Search parameter keys as the SDKs send them in SearchRequest.SearchParams.
const (
	spAnnsField     = "anns_field"
	spTopK          = "topk"
	spLimit         = "limit"
	spOffset        = "offset"
	spMetricType    = "metric_type"
	spParams        = "params"
	spRoundDecimal  = "round_decimal"
	spIgnoreGrowing = "ignore_growing"
	spGroupBy       = "group_by_field"
	spGroupSize     = "group_size"
	spStrictGroup   = "strict_group_size"
	spHints         = "hints"
	spIterator      = "iterator"
)

// searchParams are the decoded SearchRequest.SearchParams.
type searchParams struct {
	AnnsField     string
	TopK          int
	Offset        int
	MetricType    string
	Params        map[string]string // the "params" JSON, flattened; plus unknown top-level keys
	RoundDecimal  int
	IgnoreGrowing bool
	// Group-by search: the field ("" none), hits per group (default 1),
	// strict group size.
	GroupBy     string
	GroupSize   int
	StrictGroup bool
}

// maxGroupSize is Milvus's quotaAndLimits.limits.maxGroupSize default.
const maxGroupSize = 10

// invalidMsg is Milvus's merr.WrapErrParameterInvalidMsg wording: "<msg>:
// invalid parameter", code 1100.
func invalidMsg(format string, args ...any) error {
	return merr.WithMessage(merr.ErrParameterInvalid, fmt.Sprintf(format, args...)+": "+merr.ErrParameterInvalid.Msg)
}

// parseSearchParams decodes the key-value search parameters of a
// SearchRequest. It checks syntax only; the engine judges the values.
func parseSearchParams(kvs []*commonpb.KeyValuePair) (searchParams, error) {
	m := kvMap(kvs)
	sp := searchParams{RoundDecimal: -1, Params: map[string]string{}}
	sp.AnnsField = m[spAnnsField]
	sp.MetricType = m[spMetricType]

	topk, hasTopK := m[spTopK]
	if !hasTopK {
		topk, hasTopK = m[spLimit]
	}
	if !hasTopK || topk == "" {
		return sp, merr.Wrap(merr.ErrParameterMissing, "topk is required in search params")
	}
	var err error
	if sp.TopK, err = parseIntParam(spTopK, topk); err != nil {
		return sp, err
	}
	if v := m[spOffset]; v != "" {
		if sp.Offset, err = parseIntParam(spOffset, v); err != nil {
			return sp, err
		}
	}
	if v := m[spRoundDecimal]; v != "" {
		if sp.RoundDecimal, err = parseIntParam(spRoundDecimal, v); err != nil {
			return sp, err
		}
	}
	if v := m[spIgnoreGrowing]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return sp, merr.InvalidParam("%s must be a boolean, got %q", spIgnoreGrowing, v)
		}
		sp.IgnoreGrowing = b
	}
	if err := parseGroupBy(m, &sp); err != nil {
		return sp, err
	}
	if v := strings.TrimSpace(m[spParams]); v != "" {
		if err := flattenJSONParams(v, sp.Params); err != nil {
			return sp, err
		}
	}
	for k, v := range m {
		switch k {
		case spAnnsField, spTopK, spLimit, spOffset, spMetricType, spParams, spRoundDecimal,
			spIgnoreGrowing, spGroupBy, spGroupSize, spStrictGroup, spHints, spIterator:
			continue
		}
		if _, dup := sp.Params[k]; !dup {
			sp.Params[k] = v
		}
	}
	// Some clients put metric_type inside "params"; honour it there too.
	if sp.MetricType == "" {
		if mt, ok := sp.Params[spMetricType]; ok {
			sp.MetricType = mt
		}
	}
	delete(sp.Params, spMetricType)
	return sp, nil
}

// parseGroupBy reads group_by_field, group_size and strict_group_size with
// Milvus's checks and wording (proxy parseGroupByInfo); a group-by search
// cannot be an iterator's.
func parseGroupBy(m map[string]string, sp *searchParams) error {
	sp.GroupBy = m[spGroupBy]
	sp.GroupSize = 1
	if v, ok := m[spGroupSize]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 0, 64)
		if err != nil {
			return invalidMsg("failed to parse input group size:%s", v)
		}
		if n <= 0 {
			return invalidMsg("input group size:%d is negative, failed to do search_groupby", n)
		}
		if n > maxGroupSize {
			return invalidMsg("input group size:%d exceeds configured max group size:%d", n, maxGroupSize)
		}
		sp.GroupSize = int(n)
	}
	if v, ok := m[spStrictGroup]; ok {
		sp.StrictGroup, _ = strconv.ParseBool(v)
	}
	if sp.GroupBy != "" {
		if it, _ := strconv.ParseBool(m[spIterator]); it {
			return fmt.Errorf("Not allowed to do groupBy when doing iteration: %w",
				merr.Wrap(merr.ErrParameterInvalid, "", "expected", "", "actual", ""))
		}
	}
	return nil
}

func parseIntParam(key, v string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 0)
	if err != nil {
		return 0, merr.InvalidParam("%s must be an integer, got %q", key, v)
	}
	return int(n), nil
}

// flattenJSONParams decodes a JSON object and stores each member in out as
// a string: strings as themselves, numbers as their literal text, booleans
// as "true"/"false", anything else as its JSON text.
func flattenJSONParams(s string, out map[string]string) error {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return merr.InvalidParam("params must be a JSON object: %v", err)
	}
	for k, raw := range obj {
		out[k] = jsonScalarString(raw)
	}
	return nil
}

// jsonScalarString renders a JSON value as a parameter string.
func jsonScalarString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// decodePlaceholderGroup decodes the query vectors of a search: exactly
// one placeholder of type FloatVector whose values are little-endian
// float32 arrays of equal length. nq, when non-zero, must equal the
// number of vectors; dim, when non-zero, must equal their length.
func decodePlaceholderGroup(b []byte, nq int64, dim int) ([][]float32, error) {
	if len(b) == 0 {
		return nil, merr.InvalidParam("search vectors are empty (no placeholder group)")
	}
	var pg commonpb.PlaceholderGroup
	if err := proto.Unmarshal(b, &pg); err != nil {
		return nil, merr.InvalidParam("malformed placeholder group: %v", err)
	}
	if len(pg.GetPlaceholders()) != 1 {
		return nil, merr.InvalidParam("placeholder group must hold exactly one placeholder, got %d", len(pg.GetPlaceholders()))
	}
	ph := pg.GetPlaceholders()[0]
	if ph.GetType() != commonpb.PlaceholderType_FloatVector {
		if _, ok := rawPlaceholderTypes[ph.GetType()]; ok {
			return nil, errRawPlaceholder
		}
		return nil, merr.InvalidParam("search vectors of type %s are not supported, only FloatVector", ph.GetType())
	}
	values := ph.GetValues()
	if len(values) == 0 {
		return nil, merr.InvalidParam("no search vectors given")
	}
	if nq != 0 && nq != int64(len(values)) {
		return nil, merr.InvalidParam("nq (%d) does not match the number of search vectors (%d)", nq, len(values))
	}
	vecs := make([][]float32, len(values))
	want := dim
	for i, v := range values {
		if len(v) == 0 || len(v)%4 != 0 {
			return nil, merr.InvalidParam("search vector %d: byte length %d is not a positive multiple of 4", i, len(v))
		}
		d := len(v) / 4
		if want == 0 {
			want = d
		}
		if d != want {
			if dim != 0 {
				return nil, merr.InvalidParam("search vector %d has dim %d, the field's dim is %d", i, d, dim)
			}
			return nil, merr.InvalidParam("search vector %d has dim %d, vector 0 has dim %d", i, d, want)
		}
		vec := make([]float32, d)
		for j := range vec {
			vec[j] = math.Float32frombits(binary.LittleEndian.Uint32(v[4*j:]))
		}
		vecs[i] = vec
	}
	return vecs, nil
}

// rawPlaceholderTypes are the placeholder types whose vectors are passed
// to the engine as bytes (engine.SearchRequest.RawVectors).
var rawPlaceholderTypes = map[commonpb.PlaceholderType]schemapb.DataType{
	commonpb.PlaceholderType_BinaryVector:   schemapb.DataType_BinaryVector,
	commonpb.PlaceholderType_Float16Vector:  schemapb.DataType_Float16Vector,
	commonpb.PlaceholderType_BFloat16Vector: schemapb.DataType_BFloat16Vector,
	commonpb.PlaceholderType_Int8Vector:     schemapb.DataType_Int8Vector,
}

// errRawPlaceholder tells decodePlaceholderGroup's caller to use
// decodeRawPlaceholders.
var errRawPlaceholder = errors.New("raw placeholder")

// decodeRawPlaceholders decodes a placeholder group of one binary,
// float16, bfloat16 or int8 placeholder: its values as they are (the
// engine checks their length against the field) and their data type.
func decodeRawPlaceholders(b []byte, nq int64) ([][]byte, schemapb.DataType, error) {
	var pg commonpb.PlaceholderGroup
	if err := proto.Unmarshal(b, &pg); err != nil {
		return nil, 0, merr.InvalidParam("malformed placeholder group: %v", err)
	}
	ph := pg.GetPlaceholders()[0]
	values := ph.GetValues()
	if len(values) == 0 {
		return nil, 0, merr.InvalidParam("no search vectors given")
	}
	if nq != 0 && nq != int64(len(values)) {
		return nil, 0, merr.InvalidParam("nq (%d) does not match the number of search vectors (%d)", nq, len(values))
	}
	for i, v := range values {
		if len(v) == 0 {
			return nil, 0, merr.InvalidParam("search vector %d is empty", i)
		}
	}
	return values, rawPlaceholderTypes[ph.GetType()], nil
}
