package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tandem-db/tandem/internal/cdc"
	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/security"
)

// TestCDCTailSecuredPeer: `tandem cdc tail` subscribes to a peer port
// that requires a change stream credential with --secret-file; a wrong
// credential or flags that cannot work are reported as errors at once
// (no silent retrying).
func TestCDCTailSecuredPeer(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	opts, err := security.PeerSecurity{ClusterSecret: "cluster-secret", ChangeStreamSecret: "stream-secret"}.ServerOptions()
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(opts...)
	cdc.NewServer(eng, cdc.ServerOptions{Deployment: "L", Group: "default", NodeID: "n1", Heartbeat: 50 * time.Millisecond, Logger: quiet}).Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, bad := file("good", "stream-secret"), file("bad", "cluster-secret")

	run := func(args ...string) (string, error) {
		cmd := newCDCTailCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(append([]string{"--peer", lis.Addr().String()}, args...))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cmd.ExecuteContext(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%v: still running after 30 s (retrying silently?)", args)
		}
		return out.String(), err
	}
	out, err := run("--secret-file", good, "--limit", "1")
	if err != nil || !strings.Contains(out, `"snapshot":true`) {
		t.Fatalf("with the right credential: %v, output %q", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--secret-file", bad}, "refused the subscription"},
		{nil, "Unauthenticated"},
		{[]string{"--secret-file", filepath.Join(dir, "missing")}, "--secret-file"},
		{[]string{"--secret-file", good, "--peer-tls-cert", good}, "--peer-tls-cert and --peer-tls-key"},
		{[]string{"--secret-file", good, "--peer-tls-ca", good}, "--peer-tls-*"},
	} {
		_, err := run(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.args, err, tc.want)
		}
	}
}
