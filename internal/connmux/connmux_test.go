package connmux

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tandem-db/tandem/internal/security"
)

func TestSniff(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		grpc   bool
		hasErr bool
	}{
		{"grpc preface", http2Preface + "frames...", true, false},
		{"http1 post", "POST /v2/vectordb/collections/list HTTP/1.1\r\n", false, false},
		{"http1 get", "GET / HTTP/1.1\r\n", false, false},
		{"put diverges at second byte", "PUT /x HTTP/1.1\r\n", false, false},
		{"truncated preface", "PRI * HTTP/2", false, true},
		{"empty", "", false, true},
	}
	for _, tc := range cases {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			prefix, isGRPC, err := sniff(r)
			if (err != nil) != tc.hasErr || isGRPC != tc.grpc {
				t.Fatalf("%s (oneByte=%v): grpc=%v err=%v", tc.name, oneByte, isGRPC, err)
			}
			if err == nil {
				rest, _ := io.ReadAll(r)
				if string(prefix)+string(rest) != tc.in {
					t.Fatalf("%s: bytes lost: %q + %q", tc.name, prefix, rest)
				}
			}
		}
	}
}

// A gRPC-looking and an HTTP/1 connection land on their halves with
// every byte intact; Close ends both halves.
func TestMuxRoutes(t *testing.T) {
	base, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(base, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- m.Serve() }()
	for _, tc := range []struct {
		msg string
		lis net.Listener
	}{{http2Preface + "grpc frames", m.GRPC()}, {"GET / HTTP/1.1\r\n\r\n", m.HTTP()}} {
		c, err := net.Dial("tcp", base.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(tc.msg)); err != nil {
			t.Fatal(err)
		}
		s, err := tc.lis.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(tc.msg))
		if _, err := io.ReadFull(s, got); err != nil || string(got) != tc.msg {
			t.Fatalf("%q arrived as %q (%v)", tc.msg, got, err)
		}
		s.Close()
	}
	m.Close()
	if _, err := m.HTTP().Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
	if err := <-done; err == nil {
		t.Fatal("Serve returned nil after Close")
	}
}

// A plain HTTP request on a TLS port is answered in words (400), not
// dropped silently.
func TestPlaintextOnTLSPortAnswered(t *testing.T) {
	dir := t.TempDir()
	if err := security.GenerateCA(dir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := security.GenerateCert(dir, "n1", []string{"127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	cert, key := security.CertFiles(dir, "n1")
	cfg, err := security.ServerConfig(security.TLSFiles{Cert: cert, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	base, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(tls.NewListener(base, cfg), time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go m.Serve()
	defer m.Close()
	c, err := net.Dial("tcp", base.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST /v2/vectordb/collections/list HTTP/1.1\r\nHost: x\r\n\r\n{}")
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), "HTTP/1.1 400") || !strings.Contains(string(got), "serves TLS") {
		t.Fatalf("plaintext request on a TLS port got %q", got)
	}
}
