package proxy

import (
	"fmt"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-db/tandem/internal/merr"
)

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMethodsTable(t *testing.T) {
	if len(methods) < 100 {
		t.Fatalf("only %d MilvusService methods found", len(methods))
	}
	want := map[string]protowire.Number{
		"Insert": 1, "Upsert": 1, "Delete": 1, "Search": 1, "Query": 1, "HasCollection": 1,
		"CreateCollection": 0, "DropCollection": 0, "CreateIndex": 0,
		"GetComponentStates": 3, "RegisterLink": 2, "Dummy": -1,
	}
	for name, field := range want {
		mi := methods["/"+milvusService+"/"+name]
		if mi == nil {
			t.Fatalf("%s missing", name)
		}
		if mi.statusField != field || !mi.unary {
			t.Errorf("%s: statusField %d unary %v, want %d true", name, mi.statusField, mi.unary, field)
		}
	}
	if mi := methods["/"+milvusService+"/CreateReplicateStream"]; mi == nil || mi.unary {
		t.Errorf("CreateReplicateStream: %+v, want a streaming method", mi)
	}
}

func TestStatusOf(t *testing.T) {
	refusal := merr.Status(merr.Wrapf(merr.ErrServiceUnavailable, "node n2 is standby; the active is n1 at 127.0.0.1:19531"))
	big := &milvuspb.SearchResults{
		Status: refusal,
		Results: &schemapb.SearchResultData{
			NumQueries: 1, TopK: 3, Scores: []float32{1, 2, 3},
			Ids: &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: []int64{1, 2, 3}}}},
		},
		CollectionName: "c",
	}
	cases := []struct {
		name  string
		raw   []byte
		field protowire.Number
		found bool
		want  wireStatus
	}{
		{"mutation refusal", mustMarshal(t, &milvuspb.MutationResult{Status: refusal, InsertCnt: 0}), 1, true,
			wireStatus{ErrorCode: int32(refusal.ErrorCode), Code: 2, Reason: refusal.Reason}},
		{"search refusal after results", mustMarshal(t, big), 1, true,
			wireStatus{ErrorCode: int32(refusal.ErrorCode), Code: 2, Reason: refusal.Reason}},
		{"bare status", mustMarshal(t, refusal), 0, true,
			wireStatus{ErrorCode: int32(refusal.ErrorCode), Code: 2, Reason: refusal.Reason}},
		{"success without status", mustMarshal(t, &milvuspb.MutationResult{InsertCnt: 5}), 1, false, wireStatus{}},
		{"empty message", nil, 1, false, wireStatus{}},
		{"component states at field 3", mustMarshal(t, &milvuspb.ComponentStates{Status: &commonpb.Status{Code: 5, Reason: "x"}}), 3, true,
			wireStatus{Code: 5, Reason: "x"}},
		{"no status field", mustMarshal(t, &milvuspb.MutationResult{InsertCnt: 5}), -1, false, wireStatus{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, found, err := statusOf(c.raw, c.field)
			if err != nil {
				t.Fatal(err)
			}
			if found != c.found || st != c.want {
				t.Fatalf("statusOf = %+v found=%v, want %+v found=%v", st, found, c.want, c.found)
			}
		})
	}
	// Repeated occurrences merge, as protobuf does.
	a := mustMarshal(t, &milvuspb.BoolResponse{Status: &commonpb.Status{Code: 2}})
	b := mustMarshal(t, &milvuspb.BoolResponse{Status: &commonpb.Status{Reason: "later"}})
	st, _, err := statusOf(append(a, b...), 1)
	if err != nil || st.Code != 2 || st.Reason != "later" {
		t.Fatalf("merged status = %+v, %v", st, err)
	}
	// Garbage is an error, not a panic.
	if _, _, err := statusOf([]byte{0x0a, 0xff}, 1); err == nil {
		t.Fatal("truncated message decoded without error")
	}
}

func TestRefusalRecognition(t *testing.T) {
	unavailable := func(format string, args ...any) *commonpb.Status {
		return merr.Status(merr.Wrapf(merr.ErrServiceUnavailable, format, args...))
	}
	refusals := []*commonpb.Status{
		// internal/node notServing wordings.
		unavailable("node n2 is standby; the active is n1 at 127.0.0.1:19531"),
		unavailable("node n2 is candidate; the active is n3 at 10.0.0.3:19530"),
		unavailable("node n1 is becoming the active at epoch 4; not open for writes yet"),
		unavailable("node n1 is fenced: its arbiter lease was not renewed in time"),
		unavailable("node n1 is stopping"),
		unavailable("node n2 is standby; there is no active at the moment (election in progress)"),
		// internal/node writeGate.Allow (role gate and engine admission).
		unavailable("node n1: write deadline passed: its arbiter lease was not renewed in time (self-fenced)"),
	}
	for _, st := range refusals {
		if !isRefusal(st.Code, st.Reason) {
			t.Errorf("not recognised as a refusal: %q", st.Reason)
		}
	}
	notRefusals := []*commonpb.Status{
		// engine ackWrite / runAckHook: durable, maybe applied.
		unavailable("write at lsn 7 is durable on this node but NOT acknowledged: %v", fmt.Errorf("sync mode needs 1 standby(s) to have it durable: context deadline exceeded")),
		unavailable("write at lsn 7 is durable on this node but NOT acknowledged (it may or may not survive a failover): node n1: write deadline passed: its arbiter lease was not renewed in time (self-fenced)"),
		// code 2 with an unknown wording: may have been applied.
		unavailable("something else"),
		// a gate wording with another code.
		merr.Status(merr.Wrapf(merr.ErrServiceInternal, "node n2 is standby; the active is n1 at x")),
		{},
	}
	for _, st := range notRefusals {
		if isRefusal(st.Code, st.Reason) {
			t.Errorf("recognised as a refusal: code %d %q", st.Code, st.Reason)
		}
	}
	if !isNotAcked(notRefusals[0].Code, notRefusals[0].Reason) || isNotAcked(refusals[0].Code, refusals[0].Reason) {
		t.Error("isNotAcked misclassifies")
	}
}

func TestRefusalTag(t *testing.T) {
	refusal := merr.Status(merr.NotServing("node n2 is standby; the active is n1 at x")).GetReason()
	if !isRefusal(2, refusal) {
		t.Errorf("tagged refusal %q not recognised", refusal)
	}
	if !isRefusal(2, "some new wording "+merr.NotServingTag) {
		t.Error("the tag alone must be enough")
	}
	notAcked := "write at lsn 9 is durable on this node but NOT acknowledged: " + refusal
	if isRefusal(2, notAcked) || !isNotAcked(2, notAcked) {
		t.Errorf("%q must be not-acknowledged, not a refusal", notAcked)
	}
}
