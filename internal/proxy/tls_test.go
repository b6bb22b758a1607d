package proxy

import (
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-db/tandem/internal/security"
)

// TestProxyTLS: the proxy serves TLS, reaches a node that requires a
// client certificate (mTLS) with its own, and forwards the client's
// authorization metadata unchanged; a plaintext client is refused.
func TestProxyTLS(t *testing.T) {
	dir := t.TempDir()
	if err := security.GenerateCA(dir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"node", "proxy"} {
		if err := security.GenerateCert(dir, n, []string{"localhost", "127.0.0.1"}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	ca := filepath.Join(dir, security.CACertFile)
	nCrt, nKey := security.CertFiles(dir, "node")
	pCrt, pKey := security.CertFiles(dir, "proxy")
	nodeTLS, err := security.ServerConfig(security.TLSFiles{Cert: nCrt, Key: nKey, CA: ca, ClientAuth: security.ClientAuthRequire}, "h2")
	if err != nil {
		t.Fatal(err)
	}
	a := startFakeNode(t, "a", func(n *fakeNode) { n.srv = grpc.NewServer(grpc.Creds(credentials.NewTLS(nodeTLS))) })
	group, g := testGroup(t)
	lead(t, g, "a", a.addr)
	p := startProxy(t, group, func(c *Config) {
		c.TLS = security.TLSFiles{Cert: pCrt, Key: pKey}
		c.BackendTLS = security.TLSFiles{Cert: pCrt, Key: pKey, CA: ca}
	})
	awaitActive(t, p, "a")

	pool, err := security.LoadCAPool(ca)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("passthrough:///"+p.Addr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := metadata.AppendToOutgoingContext(ctxT(t, 10*time.Second), "authorization", "dXNlcjpwYXNz")
	r, err := milvuspb.NewMilvusServiceClient(cc).ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{})
	if err != nil {
		t.Fatalf("ShowCollections through the TLS proxy: %v", err)
	}
	if names := r.GetCollectionNames(); len(names) != 1 || names[0] != "a" {
		t.Fatalf("response %v", r)
	}
	if got := a.lastMD().Get("authorization"); len(got) != 1 || got[0] != "dXNlcjpwYXNz" {
		t.Fatalf("node saw authorization %v", got)
	}

	plain, err := grpc.NewClient("passthrough:///"+p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := milvuspb.NewMilvusServiceClient(plain).ShowCollections(ctxT(t, 2*time.Second), &milvuspb.ShowCollectionsRequest{}); err == nil {
		t.Fatal("plaintext client served by the TLS proxy")
	}
}
