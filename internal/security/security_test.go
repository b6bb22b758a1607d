package security

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("s3cret-pw")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("s3cret-pw")
	if h == h2 {
		t.Fatal("hashes are not salted")
	}
	if !CheckPassword(h, "s3cret-pw") || CheckPassword(h, "s3cret-pX") || CheckPassword("garbage", "s3cret-pw") || CheckPassword("", "") {
		t.Fatal("CheckPassword")
	}
}

func TestCertsAndTLS(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if err := GenerateCA(dir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"srv", "cli"} {
		if err := GenerateCert(dir, n, []string{"127.0.0.1"}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	GenerateCA(other, "other", time.Hour)
	GenerateCert(other, "rogue", []string{"127.0.0.1"}, time.Hour)
	sc, sk := CertFiles(dir, "srv")
	scfg, err := ServerConfig(TLSFiles{Cert: sc, Key: sk, CA: dir + "/ca.crt", ClientAuth: ClientAuthRequire})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Write([]byte("x")); c.Close() }()
		}
	}()
	try := func(f TLSFiles) error {
		cfg, err := ClientConfig(f, "")
		if err != nil {
			return err
		}
		c, err := tls.Dial("tcp", lis.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 1))
		return err
	}
	cc, ck := CertFiles(dir, "cli")
	rc, rk := CertFiles(other, "rogue")
	if err := try(TLSFiles{Cert: cc, Key: ck, CA: dir + "/ca.crt"}); err != nil {
		t.Fatalf("member: %v", err)
	}
	if try(TLSFiles{CA: dir + "/ca.crt"}) == nil {
		t.Fatal("no client certificate accepted")
	}
	if try(TLSFiles{Cert: rc, Key: rk, CA: dir + "/ca.crt"}) == nil {
		t.Fatal("foreign client certificate accepted")
	}
	if try(TLSFiles{Cert: cc, Key: ck, CA: other + "/ca.crt"}) == nil {
		t.Fatal("wrong CA accepted the server")
	}
	if err := (TLSFiles{Cert: sc}).Validate(); err == nil {
		t.Fatal("cert without key validated")
	}
	_ = net.IPv4len
}

func TestPeerSecretCheck(t *testing.T) {
	p := PeerSecurity{ClusterSecret: "group", ChangeStreamSecret: "stream"}
	ctx := func(s string) context.Context {
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs(SecretMetadataKey, s))
	}
	repl := "/tandem.replication.Replication/Stream"
	cs := "/tandem.cdc.ChangeStream/Subscribe"
	switch {
	case p.check(ctx("group"), repl) != nil:
		t.Fatal("group secret refused on replication")
	case p.check(ctx("stream"), repl) == nil:
		t.Fatal("change stream secret accepted on replication")
	case p.check(ctx("stream"), cs) != nil:
		t.Fatal("change stream secret refused on the change stream")
	case p.check(ctx("group"), cs) == nil:
		t.Fatal("group secret accepted on the change stream with its own credential")
	case p.check(context.Background(), repl) == nil:
		t.Fatal("no secret accepted")
	case p.check(context.Background(), "/grpc.health.v1.Health/Check") != nil:
		t.Fatal("health refused")
	}
	if s := secretCreds("group"); s.String() == "group" {
		t.Fatal("secret printed")
	}
}

func TestCheckHTTP(t *testing.T) {
	h := http.Header{}
	if !(PeerSecurity{}).CheckHTTP(h) {
		t.Fatal("no secret configured: must pass")
	}
	p := PeerSecurity{ClusterSecret: "s3cret"}
	if p.CheckHTTP(h) {
		t.Fatal("missing secret passed")
	}
	h.Set(SecretHeader, "wrong")
	if p.CheckHTTP(h) {
		t.Fatal("wrong secret passed")
	}
	h.Set(SecretHeader, "s3cret")
	if !p.CheckHTTP(h) {
		t.Fatal("right secret refused")
	}
}
