package milvus

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-db/tandem/internal/merr"
	"github.com/tandem-db/tandem/internal/security"
)

func authCtx(user, pw string) context.Context {
	tok := base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
	return metadata.NewOutgoingContext(context.Background(), metadata.Pairs("authorization", tok))
}

func TestAuthGRPC(t *testing.T) {
	h, err := security.HashPassword("Root-Pass-1")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Options{Auth: &AuthOptions{RootPasswordHash: h}})
	c := ts.grpcClient(t)
	code := func(st *commonpb.Status, err error) int32 {
		if err != nil {
			t.Fatal(err)
		}
		return st.GetCode()
	}
	// No, wrong, right credentials.
	r, err := c.ShowCollections(context.Background(), &milvuspb.ShowCollectionsRequest{})
	if got := code(r.GetStatus(), err); got != merr.ErrNotAuthenticated.Code {
		t.Fatalf("no credentials: code %d", got)
	}
	r, err = c.ShowCollections(authCtx("root", "bad"), &milvuspb.ShowCollectionsRequest{})
	if got := code(r.GetStatus(), err); got != merr.ErrNotAuthenticated.Code {
		t.Fatalf("wrong password: code %d", got)
	}
	r, err = c.ShowCollections(authCtx("root", "Root-Pass-1"), &milvuspb.ShowCollectionsRequest{})
	if got := code(r.GetStatus(), err); got != 0 {
		t.Fatalf("root: code %d %s", got, r.GetStatus().GetReason())
	}
	// Users: root creates, a user cannot create, users change their own password.
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	if got := code(c.CreateCredential(authCtx("root", "Root-Pass-1"), &milvuspb.CreateCredentialRequest{Username: "bob", Password: b64("Bob-Pass-1")})); got != 0 {
		t.Fatalf("create bob: %d", got)
	}
	if got := code(c.CreateCredential(authCtx("bob", "Bob-Pass-1"), &milvuspb.CreateCredentialRequest{Username: "eve", Password: b64("Eve-Pass-1")})); got != merr.ErrPrivilegeNotPermitted.Code {
		t.Fatalf("bob creates eve: %d", got)
	}
	if got := code(c.UpdateCredential(authCtx("bob", "Bob-Pass-1"), &milvuspb.UpdateCredentialRequest{Username: "bob", OldPassword: b64("Bob-Pass-1"), NewPassword: b64("Bob-Pass-2")})); got != 0 {
		t.Fatalf("bob changes password: %d", got)
	}
	r, err = c.ShowCollections(authCtx("bob", "Bob-Pass-1"), &milvuspb.ShowCollectionsRequest{})
	if got := code(r.GetStatus(), err); got != merr.ErrNotAuthenticated.Code {
		t.Fatalf("bob's old password still works: %d", got)
	}
	lu, err := c.ListCredUsers(authCtx("bob", "Bob-Pass-2"), &milvuspb.ListCredUsersRequest{})
	if err != nil || len(lu.GetUsernames()) != 2 {
		t.Fatalf("list users: %v %v", lu.GetUsernames(), err)
	}
	// Root's first password change lands in the catalog.
	if got := code(c.UpdateCredential(authCtx("root", "Root-Pass-1"), &milvuspb.UpdateCredentialRequest{Username: "root", NewPassword: b64("Root-Pass-2")})); got != 0 {
		t.Fatalf("root changes password: %d", got)
	}
	if _, ok := ts.eng.Credential("root"); !ok {
		t.Fatal("root's new password is not in the catalog")
	}
	r, err = c.ShowCollections(authCtx("root", "Root-Pass-1"), &milvuspb.ShowCollectionsRequest{})
	if got := code(r.GetStatus(), err); got != merr.ErrNotAuthenticated.Code {
		t.Fatalf("root's initial password still works: %d", got)
	}
	if got := code(c.DeleteCredential(authCtx("root", "Root-Pass-2"), &milvuspb.DeleteCredentialRequest{Username: "bob"})); got != 0 {
		t.Fatalf("delete bob: %d", got)
	}

	// REST: bearer token.
	post := func(tok string) int {
		req := httptest.NewRequest("POST", "/v2/vectordb/collections/list", bytes.NewReader([]byte("{}")))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		ts.HTTPHandler().ServeHTTP(w, req)
		var env struct{ Code int }
		json.NewDecoder(w.Body).Decode(&env)
		return env.Code
	}
	if post("") != 1400 || post("root:nope") != 1400 || post("root:Root-Pass-2") != 0 {
		t.Fatal("REST auth")
	}
	_ = http.MethodPost
}

// FuzzRESTRequest feeds arbitrary bodies and tokens to the REST decoding
// path (authentication, JSON decoding, search request translation): every
// input gets a Milvus envelope, never a panic.
func FuzzRESTRequest(f *testing.F) {
	h, _ := security.HashPassword("Root-Pass-1")
	ts := startServer(f, Options{Auth: &AuthOptions{RootPasswordHash: h}})
	handler := ts.HTTPHandler()
	f.Add("root:Root-Pass-1", "/v2/vectordb/entities/search", []byte(`{"collectionName":"c","data":[[1,2]],"limit":3}`))
	f.Add("root:Root-Pass-1", "/v2/vectordb/entities/insert", []byte(`{"collectionName":"c","data":[{"id":1}]}`))
	f.Add("x", "/v2/vectordb/collections/create", []byte(`{"collectionName":"c","dimension":4}`))
	f.Add("", "/v2/vectordb/entities/query", []byte(`{`))
	f.Fuzz(func(t *testing.T, tok, path string, body []byte) {
		req, err := http.NewRequest("POST", "http://x"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		var env struct {
			Code *int `json:"code"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Code == nil {
			t.Fatalf("no envelope for %q: %q", path, w.Body.String())
		}
	})
}

// FuzzSearchParams fuzzes the gRPC search request's parameter decoding.
func FuzzSearchParams(f *testing.F) {
	f.Add("topk", "10", "params", `{"nprobe": 8}`, []byte{1, 2})
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, pg []byte) {
		parseSearchParams([]*commonpb.KeyValuePair{{Key: k1, Value: v1}, {Key: k2, Value: v2}})
		decodePlaceholderGroup(pg, 1, 4)
	})
}
