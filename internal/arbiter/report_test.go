package arbiter

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEncodings pins the stored JSON: other nodes, other versions and
// operators' scripts read these bytes.
func TestEncodings(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{MemberStatus{NodeID: "n1", Addr: "10.0.0.1:19530", PeerAddr: "10.0.0.1:19540", HTTPAddr: "10.0.0.1:9091",
			Role: "active", Epoch: 3, DurableLSN: 100, AppliedLSN: 99, UpdatedUnixMs: 1700000000123},
			`{"node_id":"n1","addr":"10.0.0.1:19530","peer_addr":"10.0.0.1:19540","http_addr":"10.0.0.1:9091","role":"active","epoch":3,"durable_lsn":100,"applied_lsn":99,"updated_unix_ms":1700000000123}`},
		{MemberStatus{NodeID: "n2"},
			`{"node_id":"n2","addr":"","peer_addr":"","http_addr":"","role":"","epoch":0,"durable_lsn":0,"applied_lsn":0,"updated_unix_ms":0}`},
		{Leader{NodeID: "n1", Addr: "a", PeerAddr: "p", Epoch: 3, LeaseID: 7587880950234548235, CreateRev: 42},
			`{"node_id":"n1","addr":"a","peer_addr":"p","epoch":3,"lease_id":7587880950234548235}`},
		{SyncSet{Epoch: 3, Nodes: normNodes([]string{"n2", "n1", "n2"}), ModRev: 9},
			`{"epoch":3,"nodes":["n1","n2"]}`},
		{SyncSet{Epoch: 4, Nodes: normNodes(nil)},
			`{"epoch":4,"nodes":[]}`},
	} {
		if got := encodeJSON(tc.v); got != tc.want {
			t.Errorf("%T:\n got %s\nwant %s", tc.v, got, tc.want)
		}
	}
}

// TestStoredValues checks what lands in etcd is exactly those encodings.
func TestStoredValues(t *testing.T) {
	c := sharedClient(t)
	name := groupName(t)
	g := c.Group(name)
	s := newSession(t, g, 5*time.Second)
	st := MemberStatus{NodeID: "n1", Addr: "a", Role: "active", Epoch: 1, UpdatedUnixMs: 5}
	if err := g.PutMember(ctxT(t), s, st); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Campaign(ctxT(t), s, Leader{NodeID: "n1", Addr: "a", PeerAddr: "p", Epoch: 99, CreateRev: 5}, Candidate{}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutSyncSet(ctxT(t), s, 1, []string{"n1"}); err != nil {
		t.Fatal(err)
	}
	get := func(key string) string {
		resp, err := c.Etcd().Get(ctxT(t), key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("get %s: %v %v", key, resp, err)
		}
		return string(resp.Kvs[0].Value)
	}
	for key, want := range map[string]string{
		"/tandem/groups/" + name + "/members/n1": encodeJSON(st),
		"/tandem/groups/" + name + "/leader":     `{"node_id":"n1","addr":"a","peer_addr":"p","epoch":1,"lease_id":` + jsonInt(s.LeaseID()) + `}`,
		"/tandem/groups/" + name + "/epoch":      "1",
		"/tandem/groups/" + name + "/sync":       `{"epoch":1,"nodes":["n1"]}`,
	} {
		if got := get(key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
}

func jsonInt(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestStatusAndReport(t *testing.T) {
	c := sharedClient(t)
	name := groupName(t)
	g := c.Group(name)
	other := c.Group(name + "-other")
	a, b, x := newSession(t, g, 5*time.Second), newSession(t, g, 5*time.Second), newSession(t, other, 5*time.Second)
	now := time.UnixMilli(1_800_000_010_000)
	if err := g.PutMember(ctxT(t), a, MemberStatus{NodeID: "a", Addr: "10.0.0.1:19530", Role: "active", Epoch: 1,
		DurableLSN: 100, AppliedLSN: 100, UpdatedUnixMs: now.UnixMilli() - 400}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutMember(ctxT(t), b, MemberStatus{NodeID: "b", Addr: "10.0.0.2:19530", Role: "standby", Epoch: 1,
		DurableLSN: 90, AppliedLSN: 85, UpdatedUnixMs: now.UnixMilli() - 1500}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Campaign(ctxT(t), a, Leader{NodeID: "a", Addr: "10.0.0.1:19530"}, Candidate{}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutSyncSet(ctxT(t), a, 1, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := other.PutMember(ctxT(t), x, MemberStatus{NodeID: "x"}); err != nil {
		t.Fatal(err)
	}

	groups, err := c.Groups(ctxT(t))
	if err != nil || !slices.Contains(groups, name) || !slices.Contains(groups, name+"-other") || !slices.IsSorted(groups) {
		t.Fatalf("Groups() = %v, %v", groups, err)
	}
	st, err := g.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Group != name || st.Leader == nil || st.Leader.NodeID != "a" || st.Epoch != 1 || len(st.Members) != 2 ||
		st.Members[0].NodeID != "a" || st.Members[1].NodeID != "b" || st.Sync == nil || st.Rev == 0 {
		t.Fatalf("Status() = %+v", st)
	}

	// JSON: the fields scripts rely on.
	b1, err := json.Marshal(st.Report(now))
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Group   string `json:"group"`
		Leader  string `json:"leader"`
		Epoch   uint64 `json:"epoch"`
		Members []struct {
			NodeID     string `json:"node_id"`
			Role       string `json:"role"`
			Epoch      uint64 `json:"epoch"`
			DurableLSN uint64 `json:"durable_lsn"`
			AppliedLSN uint64 `json:"applied_lsn"`
			Addr       string `json:"addr"`
			Lag        *int64 `json:"lag"`
			AgeMs      int64  `json:"age_ms"`
			InSync     bool   `json:"in_sync"`
			Leader     bool   `json:"leader"`
		} `json:"members"`
		SyncNodes []string `json:"sync_nodes"`
	}
	if err := json.Unmarshal(b1, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Group != name || obj.Leader != "a" || obj.Epoch != 1 || len(obj.Members) != 2 {
		t.Fatalf("report JSON %s", b1)
	}
	mb := obj.Members[1]
	if mb.NodeID != "b" || mb.Role != "standby" || mb.Epoch != 1 || mb.DurableLSN != 90 || mb.AppliedLSN != 85 ||
		mb.Addr != "10.0.0.2:19530" || mb.Lag == nil || *mb.Lag != 10 || mb.AgeMs != 1500 || !mb.InSync || mb.Leader {
		t.Fatalf("member b in report JSON %s", b1)
	}
	if ma := obj.Members[0]; !ma.Leader || ma.Lag == nil || *ma.Lag != 0 {
		t.Fatalf("member a in report JSON %s", b1)
	}

	// A group without a leader: leader "", lag null, members [].
	ost, err := other.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(ost.Report(now))
	for _, want := range []string{`"leader":""`, `"lag":null`, `"sync_nodes":null`, `"epoch":0`} {
		if !strings.Contains(string(b2), want) {
			t.Errorf("leaderless report %s lacks %s", b2, want)
		}
	}
	empty := (&GroupStatus{Group: "empty"}).Report(now)
	if b3, _ := json.Marshal(empty); !strings.Contains(string(b3), `"members":[]`) {
		t.Errorf("empty group report %s", b3)
	}

	// Table.
	var buf bytes.Buffer
	if err := WriteTable(&buf, []StatusReport{st.Report(now), ost.Report(now), empty}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	t.Logf("\n%s", out)
	lines := strings.Split(out, "\n")
	for _, want := range []string{
		"group " + name + "  leader a (10.0.0.1:19530)  epoch 1  sync [a b] @1",
		"NODE", "ROLE", "DURABLE", "APPLIED", "LAG", "ADDR", "AGE",
		"(no live members)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	row := func(node string) []string {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 2 && (f[1] == node || f[0] == node) {
				return f
			}
		}
		t.Fatalf("no row for %s", node)
		return nil
	}
	if got := strings.Join(row("a"), " "); got != "*s a active 1 100 100 0 10.0.0.1:19530 400ms -" {
		t.Errorf("row a = %q", got)
	}
	if got := strings.Join(row("b"), " "); got != "s b standby 1 90 85 10 10.0.0.2:19530 1.5s -" {
		t.Errorf("row b = %q", got)
	}
}

// TestReportWaitingForStandby: a member that holds client writes back for
// want of sync standbys is marked in the JSON report and in the table.
func TestReportWaitingForStandby(t *testing.T) {
	now := time.UnixMilli(1_800_000_010_000)
	st := &GroupStatus{Group: "g", Epoch: 2, Leader: &Leader{NodeID: "a"}, Members: []MemberStatus{
		{NodeID: "a", Role: "active", Epoch: 2, UpdatedUnixMs: now.UnixMilli(), WaitingSinceUnixMs: now.UnixMilli() - 12_000},
		{NodeID: "b", Role: "standby", Epoch: 2, UpdatedUnixMs: now.UnixMilli()},
	}}
	r := st.Report(now)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Members []struct {
			NodeID  string `json:"node_id"`
			Waiting bool   `json:"waiting_for_standby"`
			Since   int64  `json:"waiting_since_unix_ms"`
			Ms      int64  `json:"waiting_ms"`
		} `json:"members"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	if m := obj.Members[0]; !m.Waiting || m.Since != now.UnixMilli()-12_000 || m.Ms != 12_000 {
		t.Fatalf("waiting member in report JSON %s", b)
	}
	if m := obj.Members[1]; m.Waiting || m.Since != 0 || !strings.Contains(string(b), `"waiting_for_standby":false`) {
		t.Fatalf("member b in report JSON %s", b)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, []StatusReport{r}); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
	var rowA, rowB string
	for _, l := range strings.Split(buf.String(), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[1] == "a" {
			rowA = l
		} else if len(f) > 2 && f[0] == "b" {
			rowB = l
		}
	}
	if !strings.Contains(rowA, "waiting-for-standby (12s)") || strings.Contains(rowB, "waiting") {
		t.Fatalf("table rows: a %q, b %q", rowA, rowB)
	}
}
