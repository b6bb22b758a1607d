package milvus

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strconv"

	"github.com/google/uuid"
	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/merr"
)

// Iterators (Tandem issues 15/16).
//
// Query iterator: the SDKs page a query with a limit and "pk > last"
// (the Go SDK also sends iterator=true, reduce_stop_for_best=true and,
// from some SDKs, collection_id); the engine answers queries in
// primary-key order (engine/query_order.go), so every page holds the next
// keys. The keys are checked as Milvus checks them.
//
// Search iterator v2, as Milvus 2.6 negotiates it: the search params carry
// iterator=true, search_iter_v2=true, search_iter_batch_size (the page
// size, which replaces topk) and, after the first page, search_iter_id
// (the token of the previous answer) and search_iter_last_bound (its
// last_bound). Each answer carries SearchIteratorV2Results{token,
// last_bound}: last_bound is the score of the page's last hit (or the one
// sent, or the closest possible score when nothing was found), as Milvus's
// proxy computes it; an empty page ends the iteration.
//
// The token is a UUID (Milvus rejects other strings) that carries the
// cursor, so the server keeps no iterator state and an iterator carries
// on across a failover. Its 16 bytes:
//
//	[0,8)   tie key of the last hit returned, big-endian (engine.SearchCursor.Key)
//	[8,12)  iterator id, random per iterator; the top bit of byte 8 says
//	        whether bytes [0,8) hold a tie key (no hit returned yet: not)
//	[12,16) CRC-32C of bytes [0,12) and "tandem-iter", big-endian
//
// A UUID whose checksum does not match (another server's token, or one an
// application made up) is accepted as Milvus accepts it: the page then
// starts strictly beyond last_bound, skipping rows tied with it.
const (
	spIterV2        = "search_iter_v2"
	spIterBatchSize = "search_iter_batch_size"
	spIterID        = "search_iter_id"
	spIterLastBound = "search_iter_last_bound"
	spIterSessionTs = "iterator_session_ts"
	spCollectionID  = "collection_id"
	spGuaranteeTs   = "guarantee_timestamp"
	qpReduceBest    = "reduce_stop_for_best"
)

// iteratorKeys are the search params that drive an iterator; they are
// not index search params.
var iteratorKeys = []string{spIterator, spIterV2, spIterBatchSize, spIterID, spIterLastBound,
	spIterSessionTs, spCollectionID, spGuaranteeTs, qpReduceBest}

// searchIter is the iterator part of a search request.
type searchIter struct {
	on           bool // iterator=true
	v2           bool // search_iter_v2=true (implies on)
	collectionID int64
	batch        int
	tok          iterToken
	newToken     bool // no token was sent: this is the first page
	lastBound    *float32
}

// iterToken is the decoded search iterator token.
type iterToken struct {
	id     uint32 // top bit clear
	key    int64
	hasKey bool
}

var iterCRC = crc32.MakeTable(crc32.Castagnoli)

func (t iterToken) String() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(t.key))
	id := t.id &^ (1 << 31)
	if t.hasKey {
		id |= 1 << 31
	}
	binary.BigEndian.PutUint32(b[8:12], id)
	binary.BigEndian.PutUint32(b[12:16], tokenSum(b[:12]))
	return uuid.UUID(b).String()
}

func tokenSum(b []byte) uint32 {
	h := crc32.New(iterCRC)
	h.Write(b)
	h.Write([]byte("tandem-iter"))
	return h.Sum32()
}

// parseIterToken decodes a token; ok is false for a string that is not a
// UUID. A UUID Tandem did not make decodes to a token without a key.
func parseIterToken(s string) (iterToken, bool) {
	u, err := uuid.Parse(s)
	if err != nil {
		return iterToken{}, false
	}
	b := u[:]
	if binary.BigEndian.Uint32(b[12:16]) != tokenSum(b[:12]) {
		return iterToken{id: binary.BigEndian.Uint32(b[8:12]) &^ (1 << 31)}, true
	}
	id := binary.BigEndian.Uint32(b[8:12])
	t := iterToken{id: id &^ (1 << 31), hasKey: id&(1<<31) != 0}
	if t.hasKey {
		t.key = int64(binary.BigEndian.Uint64(b[0:8]))
	}
	return t, true
}

// newIterToken starts a token with a random iterator id.
func newIterToken() iterToken {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return iterToken{id: binary.BigEndian.Uint32(b[:]) &^ (1 << 31)}
}

// iterV2Failed wraps a search iterator v2 error as Milvus's proxy does.
func iterV2Failed(err error) error {
	var me *merr.Error
	if errors.As(err, &me) {
		return merr.WithMessage(me, "parse iterator v2 info failed: "+err.Error())
	}
	return fmt.Errorf("parse iterator v2 info failed: %w", err)
}

// paramInvalid is Milvus's WrapErrParameterInvalid(expected, actual, msg):
// "msg: invalid parameter[expected=..][actual=..]".
func paramInvalid(expected, actual, msg string) error {
	return merr.WithMessage(merr.ErrParameterInvalid,
		fmt.Sprintf("%s: %s[expected=%s][actual=%s]", msg, merr.ErrParameterInvalid.Msg, expected, actual))
}

// paramInvalidMsg is Milvus's WrapErrParameterInvalidMsg: "msg: invalid parameter".
func paramInvalidMsg(format string, args ...any) error {
	return merr.WithMessage(merr.ErrParameterInvalid, fmt.Sprintf(format, args...)+": "+merr.ErrParameterInvalid.Msg)
}

// parseSearchIter reads the iterator keys of a search request's params,
// with Milvus's checks and wording. It runs before parseSearchParams so
// that a group-by with an iterator gets Milvus's refusal.
func parseSearchIter(kvs []*commonpb.KeyValuePair) (searchIter, error) {
	m := kvMap(kvs)
	var it searchIter
	v := m[spIterator]
	it.on = v == "true" || v == "True"
	it.collectionID, _ = strconv.ParseInt(m[spCollectionID], 0, 64)
	if it.on && m[spGroupBy] != "" {
		return it, paramInvalid("", "", "Not allowed to do groupBy when doing iteration")
	}
	it.v2, _ = strconv.ParseBool(m[spIterV2])
	if !it.v2 {
		return it, nil
	}
	if !it.on {
		return it, iterV2Failed(fmt.Errorf("both %s and %s must be set in the SDK", spIterator, spIterV2))
	}
	if off, err := strconv.ParseInt(m[spOffset], 0, 64); err == nil && off > 0 {
		return it, iterV2Failed(paramInvalid("", "", "Setting an offset is not permitted when using a search iterator v2"))
	}
	if tok := m[spIterID]; tok == "" {
		it.tok, it.newToken = newIterToken(), true
	} else {
		t, ok := parseIterToken(tok)
		if !ok {
			return it, iterV2Failed(errors.New("invalid token format"))
		}
		it.tok = t
	}
	bs := m[spIterBatchSize]
	if bs == "" {
		return it, iterV2Failed(errors.New("batch size is required"))
	}
	n, err := strconv.ParseInt(bs, 0, 64)
	if err != nil {
		return it, iterV2Failed(fmt.Errorf("batch size is invalid, %w", err))
	}
	if n <= 0 || n > maxTopK {
		return it, iterV2Failed(fmt.Errorf("batch size is invalid, it should be in range [1, %d], but got %d", maxTopK, n))
	}
	it.batch = int(n)
	if lb := m[spIterLastBound]; lb != "" {
		f, err := strconv.ParseFloat(lb, 32)
		if err != nil {
			return it, iterV2Failed(fmt.Errorf("failed to parse input last bound, %w", err))
		}
		b := float32(f)
		it.lastBound = &b
	}
	return it, nil
}

// maxTopK is Milvus's default topk limit (quotaAndLimits.limits.topK).
const maxTopK = 16384

// adjust fits the parsed search params to the iterator: the iterator keys
// are not index params; v2 pages are batch-size long; a v1 iterator with a
// topk out of range asks for the most Milvus allows, as Milvus does.
func (it *searchIter) adjust(sp *searchParams) {
	for _, k := range iteratorKeys {
		delete(sp.Params, k)
	}
	switch {
	case it.v2:
		sp.TopK = it.batch
	case it.on && (sp.TopK < 1 || sp.TopK > maxTopK):
		sp.TopK = maxTopK
	}
}

// checkCollection compares the collection id an iterator sent with the
// collection's (Milvus's search wording).
func (it *searchIter) checkCollection(id int64) error {
	if it.collectionID > 0 && it.collectionID != id {
		return paramInvalidMsg("collection id:%d in the request is not consistent to that in the search context,"+
			"alias or database may have been changed: %d", it.collectionID, id)
	}
	return nil
}

// cursor is where the page starts (nil: the first page).
func (it *searchIter) cursor() *engine.SearchCursor {
	if it.lastBound == nil {
		return nil
	}
	return &engine.SearchCursor{Score: *it.lastBound, Key: it.tok.key, HasKey: it.tok.hasKey}
}

// searchIterV2 answers one page of a search iterator v2.
func (s *Server) searchIterV2(ctx context.Context, req *milvuspb.SearchRequest, sp searchParams, it searchIter) (*milvuspb.SearchResults, error) {
	fail := func(err error) (*milvuspb.SearchResults, error) {
		return &milvuspb.SearchResults{Status: errStatus(err), CollectionName: req.GetCollectionName()}, nil
	}
	db := dbName(ctx, req.GetDbName())
	info, err := s.eng.DescribeCollection(db, req.GetCollectionName())
	if err != nil {
		return fail(err)
	}
	if err := it.checkCollection(info.ID); err != nil {
		return fail(err)
	}
	vecs, err := decodePlaceholderGroup(req.GetPlaceholderGroup(), req.GetNq(), vectorDim(info.Schema, sp.AnnsField))
	if err != nil {
		return fail(err)
	}
	page, err := s.eng.SearchPage(ctx, &engine.SearchRequest{
		DB:           db,
		Collection:   req.GetCollectionName(),
		Partitions:   req.GetPartitionNames(),
		AnnsField:    sp.AnnsField,
		Vectors:      vecs,
		TopK:         sp.TopK,
		MetricType:   sp.MetricType,
		Params:       sp.Params,
		Filter:       req.GetDsl(),
		OutputFields: req.GetOutputFields(),
		RoundDecimal: sp.RoundDecimal,
	}, it.cursor())
	if err != nil {
		return fail(err)
	}
	res := page.Data
	withPrimaryKey(res, primaryField(info.Schema))
	tok, bound := it.tok, iterBound(it.lastBound, page.HigherIsBetter)
	if len(page.Lasts) == 1 && res.GetTopks()[0] > 0 {
		last := page.Lasts[0]
		tok.key, tok.hasKey, bound = last.Key, true, last.Score
	}
	res.SearchIteratorV2Results = &schemapb.SearchIteratorV2Results{Token: tok.String(), LastBound: bound}
	out := &milvuspb.SearchResults{Status: successStatus(), Results: res, CollectionName: req.GetCollectionName()}
	if req.GetGuaranteeTimestamp() == 0 {
		out.SessionTs = s.tso.next()
	}
	return out, nil
}

// iterBound is the last bound of a page without hits: the one sent, or
// the closest score possible on the first page (Milvus's getLastBound).
func iterBound(sent *float32, higherIsBetter bool) float32 {
	switch {
	case sent != nil:
		return *sent
	case higherIsBetter:
		return math.MaxFloat32
	}
	return -math.MaxFloat32
}

// queryIter is the iterator part of a query request.
type queryIter struct {
	on           bool
	collectionID int64
}

// parseQueryIter reads the iterator keys of a query's params with
// Milvus's checks and wording.
func parseQueryIter(kvs []*commonpb.KeyValuePair) (queryIter, error) {
	var qi queryIter
	for _, kv := range kvs {
		v := kv.GetValue()
		switch kv.GetKey() {
		case qpReduceBest:
			if _, err := strconv.ParseBool(v); err != nil {
				return qi, paramInvalid("true or false", v, "value for reduce_stop_for_best is invalid")
			}
		case spIterator:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return qi, paramInvalid("true or false", v, "value for iterator field is invalid")
			}
			qi.on = b
		case spCollectionID:
			id, err := strconv.ParseInt(v, 0, 64)
			if err != nil {
				return qi, paramInvalid("int value for collection_id", spCollectionID, "value for collection id is invalid")
			}
			qi.collectionID = id
		}
	}
	return qi, nil
}

// check compares the collection id a query iterator sent with the
// collection's (Milvus's query wording).
func (s *Server) checkQueryIter(ctx context.Context, req *milvuspb.QueryRequest, qi queryIter) error {
	if qi.collectionID <= 0 {
		return nil
	}
	info, err := s.eng.DescribeCollection(dbName(ctx, req.GetDbName()), req.GetCollectionName())
	if err != nil {
		return err
	}
	if info.ID != qi.collectionID {
		return paramInvalidMsg("Input collection id is not consistent to collectionID in the context," +
			"alias or database may have changed")
	}
	return nil
}
