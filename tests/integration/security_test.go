package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/tandem-db/tandem/internal/cdc"
	"github.com/tandem-db/tandem/internal/security"
	"github.com/tandem-db/tandem/internal/testutil"
)

var secNodeReady = regexp.MustCompile(`tandem node serving.* listen=(\S+) peer=(\S+) http=(\S+)`)

// rawCodec passes bytes through (a rogue replication client).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "tandem-frame" }

// TestSecurityTLSAuthGroup runs a two-node group with TLS on the client
// and peer ports, a cluster secret and authentication: plaintext and
// wrong-CA clients fail; no or a wrong password gets an auth error; the
// right one works with the official SDK; users survive a failover; a
// rogue peer (wrong secret, foreign or no certificate) is refused on the
// replication and change-stream endpoints and receives no data.
func TestSecurityTLSAuthGroup(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if out, err := runCerts("certs", "--dir", certs, "n1", "n2", "client"); err != nil {
		t.Fatalf("tandem certs: %v\n%s", err, out)
	}
	rogueDir := filepath.Join(dir, "rogue")
	if out, err := runCerts("certs", "--dir", rogueDir, "rogue"); err != nil {
		t.Fatalf("tandem certs: %v\n%s", err, out)
	}
	secret := filepath.Join(dir, "secret")
	rootPw := filepath.Join(dir, "rootpw")
	os.WriteFile(secret, []byte("group-secret-123\n"), 0o600)
	os.WriteFile(rootPw, []byte("Root-Pass-1\n"), 0o600)

	ac := startArbiters(t, 1)
	type snode struct {
		*proc
		id, addr, peer string
	}
	start := func(id string) *snode {
		crt, key := security.CertFiles(certs, id)
		args := []string{"node", "--group", haGroup, "--node-id", id, "--data-dir", filepath.Join(dir, id),
			"--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
			"--arbiter", ac.Endpoints, "--lease-ttl", "2s",
			"--tls-cert", crt, "--tls-key", key, "--tls-ca", filepath.Join(certs, "ca.crt"),
			"--cluster-secret-file", secret, "--auth", "--root-password-file", rootPw}
		p, m := startProc(t, id, secNodeReady, args...)
		return &snode{proc: p, id: id, addr: m[1], peer: m[2]}
	}
	nodes := []*snode{start("n1"), start("n2")}
	st := awaitStatus(t, ac.Endpoints, 30*time.Second, "one active", oneActive(1))
	var active, standby *snode
	for _, n := range nodes {
		if n.id == st.Leader {
			active = n
		} else {
			standby = n
		}
	}

	caPool, err := security.LoadCAPool(filepath.Join(certs, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	goodTLS := credentials.NewTLS(&tls.Config{RootCAs: caPool})
	rogueCA, _ := security.LoadCAPool(filepath.Join(rogueDir, "ca.crt"))
	badTLS := credentials.NewTLS(&tls.Config{RootCAs: rogueCA})
	connect := func(addr, user, pw string, creds credentials.TransportCredentials) (*milvusclient.Client, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		opts := append([]grpc.DialOption{}, milvusclient.DefaultGrpcOpts...)
		if creds != nil {
			opts = append(opts, grpc.WithTransportCredentials(creds))
		}
		return milvusclient.New(ctx, &milvusclient.ClientConfig{Address: addr, Username: user, Password: pw, DialOptions: opts})
	}
	isAuthErr := func(err error) bool {
		return err != nil && (strings.Contains(err.Error(), "not authenticated") || strings.Contains(err.Error(), "1400") || status.Code(err) == codes.Unauthenticated)
	}

	// Plaintext client to the TLS port fails.
	if c, err := connect(active.addr, "root", "Root-Pass-1", nil); err == nil {
		c.Close(context.Background())
		t.Fatal("plaintext client connected to a TLS server")
	}
	// Wrong CA fails.
	if c, err := connect(active.addr, "root", "Root-Pass-1", badTLS); err == nil {
		c.Close(context.Background())
		t.Fatal("client trusting another CA connected")
	}
	// No password, wrong password: auth error.
	if _, err := connect(active.addr, "", "", goodTLS); !isAuthErr(err) {
		t.Fatalf("no credentials: err %v, want an auth error", err)
	}
	if _, err := connect(active.addr, "root", "wrong-pass", goodTLS); !isAuthErr(err) {
		t.Fatalf("wrong password: err %v, want an auth error", err)
	}
	// Right credentials work.
	root, err := connect(active.addr, "root", "Root-Pass-1", goodTLS)
	if err != nil {
		t.Fatalf("root connect: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := root.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("sec", 4)); err != nil {
		t.Fatalf("create collection: %v", err)
	}
	if err := root.CreateUser(ctx, milvusclient.NewCreateUserOption("alice", "Alice-Pass-1")); err != nil {
		t.Fatalf("create user: %v", err)
	}
	alice, err := connect(active.addr, "alice", "Alice-Pass-1", goodTLS)
	if err != nil {
		t.Fatalf("alice connect: %v", err)
	}
	if _, err := alice.ListCollections(ctx, milvusclient.NewListCollectionOption()); err != nil {
		t.Fatalf("alice list: %v", err)
	}
	if _, err := connect(active.addr, "alice", "nope-nope", goodTLS); !isAuthErr(err) {
		t.Fatalf("alice wrong password: %v", err)
	}
	root.Close(ctx)
	alice.Close(ctx)

	// REST over TLS needs the bearer token too.
	restClient := &httpsClient{pool: caPool}
	if code := restClient.post(t, active.addr, ""); code != 1400 {
		t.Fatalf("REST without token: code %d, want 1400", code)
	}
	if code := restClient.post(t, active.addr, "alice:Alice-Pass-1"); code != 0 {
		t.Fatalf("REST with token: code %d, want 0", code)
	}

	// Rogue peers on the active's peer port.
	crt, key := security.CertFiles(certs, "client")
	rogueCrt, rogueKey := security.CertFiles(rogueDir, "rogue")
	groupCA := filepath.Join(certs, "ca.crt")
	cases := []struct {
		name   string
		sec    security.PeerSecurity
		secret string
	}{
		{"wrong secret", security.PeerSecurity{TLS: security.TLSFiles{Cert: crt, Key: key, CA: groupCA}}, "wrong-secret"},
		{"no secret", security.PeerSecurity{TLS: security.TLSFiles{Cert: crt, Key: key, CA: groupCA}}, ""},
		{"foreign certificate", security.PeerSecurity{TLS: security.TLSFiles{Cert: rogueCrt, Key: rogueKey, CA: groupCA}}, "group-secret-123"},
		{"no certificate", security.PeerSecurity{TLS: security.TLSFiles{CA: groupCA}}, "group-secret-123"},
		{"plaintext", security.PeerSecurity{}, "group-secret-123"},
	}
	for _, tc := range cases {
		opts, err := tc.sec.DialOptions(tc.secret)
		if err != nil {
			t.Fatal(err)
		}
		// Replication stream: no frame comes back.
		cc, err := grpc.NewClient(active.peer, opts...)
		if err != nil {
			t.Fatal(err)
		}
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		got, rerr := rogueReplicate(sctx, cc)
		scancel()
		cc.Close()
		if rerr == nil || got > 0 {
			t.Fatalf("%s: replication stream: %d bytes received, err %v; want refused with no data", tc.name, got, rerr)
		}
		// Change stream.
		octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := cdc.Open(octx, active.peer, cdc.SubscribeOptions{Subscriber: "rogue", WantSnapshot: true, DialOptions: opts})
		ocancel()
		if err == nil {
			s.Close()
			t.Fatalf("%s: change stream subscription accepted", tc.name)
		}
		t.Logf("%s: refused: replication %v; change stream %v", tc.name, rerr, err)
	}
	// The legitimate peer credential does get the change stream.
	goodOpts, _ := security.PeerSecurity{TLS: security.TLSFiles{Cert: crt, Key: key, CA: groupCA}}.DialOptions("group-secret-123")
	octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
	s, err := cdc.Open(octx, active.peer, cdc.SubscribeOptions{Subscriber: "member", DialOptions: goodOpts})
	ocancel()
	if err != nil {
		t.Fatalf("change stream with the group credential: %v", err)
	}
	s.Close()

	// The standby replicated over TLS + secret: kill the active, users survive.
	awaitStatus(t, ac.Endpoints, 30*time.Second, "standby in sync", func(st *statusJSON) bool {
		for _, m := range st.Members {
			if m.NodeID == standby.id && m.InSync {
				return true
			}
		}
		return false
	})
	active.Kill()
	awaitStatus(t, ac.Endpoints, 30*time.Second, "failover", func(st *statusJSON) bool {
		return oneActive(2)(st) && st.Leader == standby.id
	})
	var alice2 *milvusclient.Client
	deadline := time.Now().Add(20 * time.Second)
	for {
		alice2, err = connect(standby.addr, "alice", "Alice-Pass-1", goodTLS)
		if err == nil {
			var has bool
			has, err = alice2.HasCollection(ctx, milvusclient.NewHasCollectionOption("sec"))
			if err == nil && has {
				break
			}
			alice2.Close(ctx)
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice after failover: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // the new active opens writes within ~2s
	}
	alice2.Close(ctx)
	if _, err := connect(standby.addr, "alice", "wrong-pass", goodTLS); !isAuthErr(err) {
		t.Fatalf("wrong password after failover: %v", err)
	}
	// No secret in the logs.
	for _, n := range nodes {
		for _, s := range []string{"group-secret-123", "Root-Pass-1", "Alice-Pass-1"} {
			if strings.Contains(n.Logs(), s) {
				t.Fatalf("%s logs contain a secret", n.id)
			}
		}
	}
}

// rogueReplicate opens the replication stream, sends a hello-sized junk
// frame and counts the bytes it receives.
func rogueReplicate(ctx context.Context, cc *grpc.ClientConn) (int, error) {
	cs, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true},
		"/tandem.replication.Replication/Stream", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return 0, err
	}
	junk := []byte{1, 2, 3, 4}
	cs.SendMsg(&junk)
	total := 0
	for {
		var b []byte
		if err := cs.RecvMsg(&b); err != nil {
			return total, err
		}
		total += len(b)
	}
}

func runCerts(args ...string) (string, error) {
	out, err := exec.Command(tandemBin, args...).CombinedOutput()
	return string(out), err
}

// httpsClient posts a REST request over TLS.
type httpsClient struct{ pool *x509.CertPool }

func (h *httpsClient) post(t *testing.T, addr, token string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.pool}}}
	req, _ := http.NewRequest("POST", "https://"+addr+"/v2/vectordb/collections/list", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("REST: %v", err)
	}
	defer resp.Body.Close()
	var env struct {
		Code int `json:"code"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("REST body: %v", err)
	}
	return env.Code
}

// TestSecurityTLSArbiterProxy runs the whole chain with TLS: a TLS
// arbiter requiring client certificates (`tandem arbiter`), a TLS group
// requiring client certificates on its client port, authentication and a
// cluster secret, and a TLS proxy in front that dials the nodes with its
// own certificate. `tandem status` and `tandem switchover` reach the
// arbiter only with the --arbiter-tls-* flags; the official SDK goes
// through the proxy with TLS and credentials (which the proxy forwards
// unchanged), before and after a switchover; REST through the proxy too.
func TestSecurityTLSArbiterProxy(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if out, err := runCerts("certs", "--dir", certs, "arbiter", "n1", "n2", "proxy", "client"); err != nil {
		t.Fatalf("tandem certs: %v\n%s", err, out)
	}
	ca := filepath.Join(certs, "ca.crt")
	secret := filepath.Join(dir, "secret")
	rootPw := filepath.Join(dir, "rootpw")
	os.WriteFile(secret, []byte("group-secret-123\n"), 0o600)
	os.WriteFile(rootPw, []byte("Root-Pass-1\n"), 0o600)
	arbTLS := func(name string) []string {
		crt, key := security.CertFiles(certs, name)
		return []string{"--arbiter-tls-cert", crt, "--arbiter-tls-key", key, "--arbiter-tls-ca", ca}
	}

	// A TLS arbiter (client and peer URLs) requiring client certificates.
	ports := testutil.FreePorts(t, 2)
	aCrt, aKey := security.CertFiles(certs, "arbiter")
	arb, _ := startProc(t, "arbiter", arbiterReady, "arbiter", "--name", "a1", "--data-dir", filepath.Join(dir, "a1"),
		"--client-listen", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--peer-listen", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--tls-cert", aCrt, "--tls-key", aKey, "--tls-ca", ca, "--client-cert-auth")
	if !strings.Contains(arb.Logs(), fmt.Sprintf("https://127.0.0.1:%d", ports[0])) {
		t.Fatalf("arbiter does not serve https:\n%s", arb.Logs())
	}
	eps := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	statusArgs := arbTLS("client")
	// Without a client certificate, or without the CA, the arbiter refuses.
	for _, extra := range [][]string{nil, {"--arbiter-tls-ca", ca}} {
		if _, err := groupStatus(eps, append(extra, "--timeout", "2s")...); err == nil {
			t.Fatalf("tandem status %v reached an arbiter requiring client certificates", extra)
		}
	}

	type snode struct {
		*proc
		id, addr string
	}
	start := func(id string) *snode {
		crt, key := security.CertFiles(certs, id)
		args := append([]string{"node", "--group", haGroup, "--node-id", id, "--data-dir", filepath.Join(dir, id),
			"--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
			"--arbiter", eps, "--lease-ttl", "2s",
			"--tls-cert", crt, "--tls-key", key, "--tls-ca", ca, "--tls-client-auth", "require",
			"--cluster-secret-file", secret, "--auth", "--root-password-file", rootPw}, arbTLS(id)...)
		p, m := startProc(t, id, secNodeReady, args...)
		return &snode{proc: p, id: id, addr: m[1]}
	}
	nodes := []*snode{start("n1"), start("n2")}
	st := awaitStatusArgs(t, eps, statusArgs, 30*time.Second, "one active", oneActive(1))

	pCrt, pKey := security.CertFiles(certs, "proxy")
	px := startProxyProc(t, "proxy", eps, append([]string{"--tls-cert", pCrt, "--tls-key", pKey,
		"--backend-tls-ca", ca, "--backend-tls-cert", pCrt, "--backend-tls-key", pKey}, arbTLS("proxy")...)...)

	caPool, err := security.LoadCAPool(ca)
	if err != nil {
		t.Fatal(err)
	}
	goodTLS := credentials.NewTLS(&tls.Config{RootCAs: caPool})
	connect := func(user, pw string, creds credentials.TransportCredentials) (*milvusclient.Client, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		opts := append([]grpc.DialOption{}, milvusclient.DefaultGrpcOpts...)
		if creds != nil {
			opts = append(opts, grpc.WithTransportCredentials(creds))
		}
		return milvusclient.New(ctx, &milvusclient.ClientConfig{Address: px.Addr, Username: user, Password: pw, DialOptions: opts})
	}
	isAuthErr := func(err error) bool {
		return err != nil && (strings.Contains(err.Error(), "not authenticated") || strings.Contains(err.Error(), "1400") || status.Code(err) == codes.Unauthenticated)
	}
	if c, err := connect("root", "Root-Pass-1", nil); err == nil {
		c.Close(context.Background())
		t.Fatal("plaintext client connected to the TLS proxy")
	}
	if _, err := connect("root", "wrong-pass", goodTLS); !isAuthErr(err) {
		t.Fatalf("wrong password through the proxy: err %v, want an auth error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := connect("root", "Root-Pass-1", goodTLS)
	if err != nil {
		t.Fatalf("root through the proxy: %v", err)
	}
	if err := root.CreateCollection(ctx, milvusclient.SimpleCreateCollectionOptions("sec", 4)); err != nil {
		t.Fatalf("create collection: %v", err)
	}
	if err := root.CreateUser(ctx, milvusclient.NewCreateUserOption("alice", "Alice-Pass-1")); err != nil {
		t.Fatalf("create user: %v", err)
	}
	root.Close(ctx)
	restClient := &httpsClient{pool: caPool}
	if code := restClient.post(t, px.Addr, ""); code != 1400 {
		t.Fatalf("REST through the proxy without token: code %d, want 1400", code)
	}
	if code := restClient.post(t, px.Addr, "alice:Alice-Pass-1"); code != 0 {
		t.Fatalf("REST through the proxy with token: code %d, want 0", code)
	}

	// Switch the active over (tandem switchover through the TLS arbiter);
	// the SDK keeps working through the proxy.
	awaitStatusArgs(t, eps, statusArgs, 30*time.Second, "standby in sync", func(s *statusJSON) bool {
		for _, m := range s.Members {
			if m.NodeID != st.Leader && m.InSync {
				return true
			}
		}
		return false
	})
	// Role changes on the HTTP side port need the cluster secret.
	if out, err := exec.Command(tandemBin, append([]string{"switchover", "--arbiter", eps, "--group", haGroup}, statusArgs...)...).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "cluster secret") {
		t.Fatalf("tandem switchover without the cluster secret: %v\n%s", err, out)
	}
	if out, err := exec.Command(tandemBin, append([]string{"switchover", "--arbiter", eps, "--group", haGroup, "--cluster-secret-file", secret}, statusArgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("tandem switchover: %v\n%s", err, out)
	}
	awaitStatusArgs(t, eps, statusArgs, 30*time.Second, "new active", func(s *statusJSON) bool {
		return oneActive(2)(s) && s.Leader != st.Leader
	})
	alice, err := connect("alice", "Alice-Pass-1", goodTLS)
	if err != nil {
		t.Fatalf("alice through the proxy: %v", err)
	}
	defer alice.Close(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for {
		has, err := alice.HasCollection(ctx, milvusclient.NewHasCollectionOption("sec"))
		if err == nil && has {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice after the switchover: has=%v err=%v", has, err)
		}
		time.Sleep(200 * time.Millisecond) // the proxy holds requests; the SDK may still see one failure
	}
	if active, _, _ := px.status(t); active == st.Leader || active == "" {
		t.Fatalf("proxy forwards to %q after the switchover from %s", active, st.Leader)
	}
	for _, p := range []*proc{nodes[0].proc, nodes[1].proc, px.proc, arb} {
		for _, s := range []string{"group-secret-123", "Root-Pass-1", "Alice-Pass-1"} {
			if strings.Contains(p.Logs(), s) {
				t.Fatalf("logs contain a secret:\n%s", p.Logs())
			}
		}
	}
}
