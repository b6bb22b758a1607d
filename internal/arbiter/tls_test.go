package arbiter

import (
	"context"
	"crypto/tls"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/security"
)

func TestMemberTLSValidate(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*MemberConfig)
	}{
		{"ClientTLS", func(c *MemberConfig) { c.ClientTLS = MemberTLS{CertFile: "c"} }},
		{"PeerTLS", func(c *MemberConfig) { c.PeerTLS = MemberTLS{CertFile: "c", KeyFile: "k", ClientCertAuth: true} }},
		// TLS on: http:// URLs are refused, host:port means https.
		{"ListenClientURLs", func(c *MemberConfig) { c.ClientTLS = MemberTLS{CertFile: "c", KeyFile: "k"} }},
		{"ListenPeerURLs", func(c *MemberConfig) { c.PeerTLS = MemberTLS{CertFile: "c", KeyFile: "k"} }},
	} {
		c := DefaultMemberConfig("a", "/tmp/x")
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "MemberConfig."+tc.field+" ") {
			t.Errorf("%+v: Validate() = %v, want an ErrInvalidConfig naming %s", c, err, tc.field)
		}
	}
	c := DefaultMemberConfig("a", "/tmp/x")
	c.ClientTLS = MemberTLS{CertFile: "c", KeyFile: "k"}
	c.PeerTLS = MemberTLS{CertFile: "c", KeyFile: "k", TrustedCAFile: "ca", ClientCertAuth: true}
	c.ListenClientURLs = []string{"127.0.0.1:2379"}
	c.ListenPeerURLs = []string{"127.0.0.1:2380"}
	c.InitialCluster = "a=127.0.0.1:2380"
	r, err := c.resolve()
	if err != nil {
		t.Fatalf("TLS config with host:port URLs: %v", err)
	}
	if got := urlStrings(r.advClient)[0]; got != "https://127.0.0.1:2379" {
		t.Errorf("advertised client URL %s, want https", got)
	}
	if r.initialCluster != "a=https://127.0.0.1:2380" {
		t.Errorf("initial cluster %s, want https", r.initialCluster)
	}
}

// TestMemberTLS starts members with TLS on their client and peer URLs: a
// client without the CA (or with another CA, or in plaintext) fails, with
// it works; with ClientCertAuth, a client without a certificate fails.
func TestMemberTLS(t *testing.T) {
	dir := t.TempDir()
	certs, rogue := filepath.Join(dir, "certs"), filepath.Join(dir, "rogue")
	for _, d := range []string{certs, rogue} {
		if err := security.GenerateCA(d, "test CA", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	sans := []string{"localhost", "127.0.0.1"}
	for _, n := range []string{"arb", "client"} {
		if err := security.GenerateCert(certs, n, sans, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := security.GenerateCert(rogue, "client", sans, time.Hour); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(certs, security.CACertFile)
	arbCrt, arbKey := security.CertFiles(certs, "arb")
	cliCrt, cliKey := security.CertFiles(certs, "client")
	rogueCrt, rogueKey := security.CertFiles(rogue, "client")

	start := func(name string, clientCertAuth bool) *Member {
		cfg := loopbackConfig(name, filepath.Join(dir, name))
		cfg.ListenClientURLs = []string{"127.0.0.1:0"}
		cfg.ListenPeerURLs = []string{"127.0.0.1:0"}
		cfg.ClientTLS = MemberTLS{CertFile: arbCrt, KeyFile: arbKey, TrustedCAFile: ca, ClientCertAuth: clientCertAuth}
		cfg.PeerTLS = MemberTLS{CertFile: arbCrt, KeyFile: arbKey, TrustedCAFile: ca, ClientCertAuth: true}
		m, err := StartMember(ctxT(t), cfg)
		if err != nil {
			t.Fatalf("start TLS member: %v", err)
		}
		t.Cleanup(m.Close)
		for _, ep := range append(m.ClientEndpoints(), m.PeerEndpoints()...) {
			if !strings.HasPrefix(ep, "https://") {
				t.Fatalf("endpoint %s: want https", ep)
			}
		}
		return m
	}
	clientCfg := func(caFile, crt, key string) *tls.Config {
		c, err := security.ClientConfig(security.TLSFiles{Cert: crt, Key: key, CA: caFile}, "")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	dial := func(eps []string, cfg *tls.Config) (*Client, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return Dial(ctx, eps, DialOptions{Logger: testLogger(), DialTimeout: time.Second, TLS: cfg})
	}
	mustFail := func(what string, eps []string, cfg *tls.Config) {
		t.Helper()
		if c, err := dial(eps, cfg); err == nil {
			c.Close()
			t.Fatalf("%s: Dial succeeded, want an error", what)
		}
	}
	mustWork := func(what string, eps []string, cfg *tls.Config) {
		t.Helper()
		c, err := dial(eps, cfg)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.Etcd().Put(ctx, KeyPrefix+"tls-test", "x"); err != nil {
			t.Fatalf("%s: put: %v", what, err)
		}
	}

	m := start("tls1", false)
	eps := m.ClientEndpoints()
	hostPort := []string{strings.TrimPrefix(eps[0], "https://")}
	mustFail("no CA (system roots)", eps, nil)
	mustFail("another CA", eps, clientCfg(filepath.Join(rogue, security.CACertFile), "", ""))
	mustFail("plaintext", []string{"http://" + hostPort[0]}, nil)
	mustWork("the CA, https endpoint", eps, clientCfg(ca, "", ""))
	mustWork("the CA, host:port endpoint", hostPort, clientCfg(ca, "", ""))

	m2 := start("tls2", true)
	eps2 := m2.ClientEndpoints()
	mustFail("client-cert-auth, no client certificate", eps2, clientCfg(ca, "", ""))
	mustFail("client-cert-auth, foreign client certificate", eps2, clientCfg(ca, rogueCrt, rogueKey))
	mustWork("client-cert-auth, client certificate", eps2, clientCfg(ca, cliCrt, cliKey))
}
