package milvus

import (
	"math"
	"testing"

	"github.com/google/uuid"
	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"

	"github.com/tandem-db/tandem/internal/merr"
)

func kvs(pairs ...string) []*commonpb.KeyValuePair {
	var out []*commonpb.KeyValuePair
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, &commonpb.KeyValuePair{Key: pairs[i], Value: pairs[i+1]})
	}
	return out
}

func TestIterTokenRoundTrip(t *testing.T) {
	for _, tok := range []iterToken{
		{id: 1},
		{id: 0x7fffffff, key: -1, hasKey: true},
		{id: 42, key: math.MaxInt64, hasKey: true},
		{id: 7, key: math.MinInt64, hasKey: true},
	} {
		s := tok.String()
		if _, err := uuid.Parse(s); err != nil {
			t.Fatalf("%+v: token %q is not a UUID: %v", tok, s, err)
		}
		got, ok := parseIterToken(s)
		if !ok || got != tok {
			t.Fatalf("%+v: round trip gave %+v %v", tok, got, ok)
		}
	}
	// A UUID Tandem did not make carries no key.
	got, ok := parseIterToken(uuid.NewString())
	if !ok || got.hasKey {
		t.Fatalf("foreign UUID: %+v %v", got, ok)
	}
	if _, ok := parseIterToken("not-a-uuid"); ok {
		t.Fatal("not-a-uuid accepted")
	}
}

func TestParseSearchIter(t *testing.T) {
	tok := iterToken{id: 9, key: 77, hasKey: true}.String()
	it, err := parseSearchIter(kvs("iterator", "true", "search_iter_v2", "true", "search_iter_batch_size", "5",
		"search_iter_id", tok, "search_iter_last_bound", "1.5", "collection_id", "12"))
	if err != nil || !it.v2 || it.batch != 5 || it.collectionID != 12 || it.newToken {
		t.Fatalf("parse: %+v %v", it, err)
	}
	cur := it.cursor()
	if cur == nil || cur.Score != 1.5 || cur.Key != 77 || !cur.HasKey {
		t.Fatalf("cursor: %+v", cur)
	}
	it, err = parseSearchIter(kvs("iterator", "true", "search_iter_v2", "true", "search_iter_batch_size", "5"))
	if err != nil || !it.newToken || it.cursor() != nil {
		t.Fatalf("first page: %+v %v", it, err)
	}
	for _, tc := range []struct {
		kv   []*commonpb.KeyValuePair
		code int32
		msg  string
	}{
		{kvs("iterator", "true", "group_by_field", "g"), 1100, "Not allowed to do groupBy when doing iteration: invalid parameter[expected=][actual=]"},
		{kvs("search_iter_v2", "true"), 65535, "parse iterator v2 info failed: both iterator and search_iter_v2 must be set in the SDK"},
		{kvs("iterator", "True", "search_iter_v2", "true", "offset", "2"), 1100, "parse iterator v2 info failed: Setting an offset is not permitted when using a search iterator v2: invalid parameter[expected=][actual=]"},
		{kvs("iterator", "true", "search_iter_v2", "true", "search_iter_id", "x"), 65535, "parse iterator v2 info failed: invalid token format"},
		{kvs("iterator", "true", "search_iter_v2", "true"), 65535, "parse iterator v2 info failed: batch size is required"},
		{kvs("iterator", "true", "search_iter_v2", "true", "search_iter_batch_size", "0"), 65535, "parse iterator v2 info failed: batch size is invalid, it should be in range [1, 16384], but got 0"},
		{kvs("iterator", "true", "search_iter_v2", "true", "search_iter_batch_size", "16385"), 65535, "parse iterator v2 info failed: batch size is invalid, it should be in range [1, 16384], but got 16385"},
		{kvs("iterator", "true", "search_iter_v2", "true", "search_iter_batch_size", "1", "search_iter_last_bound", "?"), 65535, `parse iterator v2 info failed: failed to parse input last bound, strconv.ParseFloat: parsing "?": invalid syntax`},
	} {
		_, err := parseSearchIter(tc.kv)
		if err == nil || err.Error() != tc.msg || merr.Code(err) != tc.code {
			t.Errorf("%v: got %v (code %d), want %q (code %d)", tc.kv, err, merr.Code(err), tc.msg, tc.code)
		}
	}
}

func TestParseQueryIter(t *testing.T) {
	qi, err := parseQueryIter(kvs("iterator", "true", "reduce_stop_for_best", "true", "collection_id", "5"))
	if err != nil || !qi.on || qi.collectionID != 5 {
		t.Fatalf("parse: %+v %v", qi, err)
	}
	for _, tc := range []struct {
		kv  []*commonpb.KeyValuePair
		msg string
	}{
		{kvs("reduce_stop_for_best", "trxxxx"), "value for reduce_stop_for_best is invalid: invalid parameter[expected=true or false][actual=trxxxx]"},
		{kvs("iterator", "maybe"), "value for iterator field is invalid: invalid parameter[expected=true or false][actual=maybe]"},
		{kvs("collection_id", "trxxxx"), "value for collection id is invalid: invalid parameter[expected=int value for collection_id][actual=collection_id]"},
	} {
		_, err := parseQueryIter(tc.kv)
		if err == nil || err.Error() != tc.msg || merr.Code(err) != 1100 {
			t.Errorf("%v: got %v, want %q", tc.kv, err, tc.msg)
		}
	}
}

func FuzzParseSearchIter(f *testing.F) {
	f.Add("true", "true", "5", iterToken{id: 3, key: 9, hasKey: true}.String(), "0.25", "0")
	f.Add("True", "1", "0x10", "", "", "2")
	f.Add("false", "true", "-1", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", "NaN", "x")
	f.Fuzz(func(t *testing.T, iter, v2, batch, token, bound, offset string) {
		it, err := parseSearchIter(kvs("iterator", iter, "search_iter_v2", v2, "search_iter_batch_size", batch,
			"search_iter_id", token, "search_iter_last_bound", bound, "offset", offset))
		if err != nil {
			return
		}
		if it.v2 && (it.batch < 1 || it.batch > maxTopK) {
			t.Fatalf("batch %d accepted", it.batch)
		}
		if it.v2 {
			if back, ok := parseIterToken(it.tok.String()); !ok || back != it.tok {
				t.Fatalf("token %+v does not round-trip: %+v", it.tok, back)
			}
		}
	})
}
