package cdc

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tandem-db/tandem/internal/security"
)

// securedPeerPort serves the change stream of an empty engine on a peer
// port secured by sec; it returns the port's address.
func securedPeerPort(t *testing.T, sec security.PeerSecurity) string {
	t.Helper()
	opts, err := sec.ServerOptions()
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(opts...)
	NewServer(openEngine(t), ServerOptions{Deployment: "L", Group: "g", NodeID: "n1", Heartbeat: 50 * time.Millisecond, Logger: quiet}).Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// TestSubscribeRefusals: a subscription the peer port refuses (wrong or
// missing change stream credential, TLS mismatch, an untrusted
// certificate) is classified as a refusal and, with StopOnRefusal, ends
// Run at once with an error wrapping ErrRefused; a port that is down is
// not a refusal; the right settings subscribe.
func TestSubscribeRefusals(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	for _, d := range []string{dir, other} {
		if err := security.GenerateCA(d, "test CA", time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := security.GenerateCert(d, "n1", []string{"127.0.0.1", "localhost"}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	cert, key := security.CertFiles(dir, "n1")
	ca := filepath.Join(dir, security.CACertFile)
	ocert, okey := security.CertFiles(other, "n1")
	tlsFiles := security.TLSFiles{Cert: cert, Key: key, CA: ca}

	plainSecret := securedPeerPort(t, security.PeerSecurity{ClusterSecret: "cluster-s", ChangeStreamSecret: "stream-s"})
	tlsSecret := securedPeerPort(t, security.PeerSecurity{TLS: tlsFiles, ChangeStreamSecret: "stream-s"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := lis.Addr().String()
	lis.Close()

	dial := func(sec security.PeerSecurity, secret string) []grpc.DialOption {
		o, err := ClientDialOptions(sec.TLS, secret)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	for _, tc := range []struct {
		name    string
		addr    string
		dial    []grpc.DialOption
		refusal bool // else: subscribes (or, for down, a transient error)
	}{
		{"right secret", plainSecret, dial(security.PeerSecurity{}, "stream-s"), false},
		{"wrong secret", plainSecret, dial(security.PeerSecurity{}, "nope"), true},
		{"cluster secret instead of the change stream one", plainSecret, dial(security.PeerSecurity{}, "cluster-s"), true},
		{"no secret", plainSecret, dial(security.PeerSecurity{}, ""), true},
		{"TLS and secret", tlsSecret, dial(security.PeerSecurity{TLS: tlsFiles}, "stream-s"), false},
		{"plaintext against TLS", tlsSecret, dial(security.PeerSecurity{}, "stream-s"), true},
		{"TLS against plaintext", plainSecret, dial(security.PeerSecurity{TLS: tlsFiles}, "stream-s"), true},
		{"untrusted server", tlsSecret, dial(security.PeerSecurity{TLS: security.TLSFiles{CA: filepath.Join(other, security.CACertFile)}}, "stream-s"), true},
		{"untrusted client certificate", tlsSecret, dial(security.PeerSecurity{TLS: security.TLSFiles{Cert: ocert, Key: okey, CA: ca}}, "stream-s"), true},
		{"no client certificate", tlsSecret, dial(security.PeerSecurity{TLS: security.TLSFiles{CA: ca}}, "stream-s"), true},
		{"port down", down, dial(security.PeerSecurity{}, ""), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			s, err := Open(ctx, tc.addr, SubscribeOptions{Group: "g", Subscriber: "t", DialOptions: tc.dial})
			if s != nil {
				s.Close()
			}
			t.Logf("Open: %v", err)
			if got := IsRefusal(err); got != tc.refusal {
				t.Fatalf("IsRefusal(%v) = %v, want %v", err, got, tc.refusal)
			}
			if tc.addr == down {
				if err == nil {
					t.Fatal("subscribed to a closed port")
				}
				return
			}
			if !tc.refusal {
				if err != nil {
					t.Fatalf("refused with the right settings: %v", err)
				}
				return
			}
			// Run stops at once instead of retrying.
			sub := NewSubscriber(SubscriberOptions{Target: &StaticTarget{Addrs: []string{tc.addr}}, Group: "g", Name: "t",
				Applier: &nopApplier{}, Logger: quiet, DialOptions: tc.dial, StopOnRefusal: true})
			err = sub.Run(ctx)
			if !errors.Is(err, ErrRefused) || ctx.Err() != nil {
				t.Fatalf("Run = %v (ctx %v), want ErrRefused at once", err, ctx.Err())
			}
			t.Logf("Run: %v", err)
			if st := sub.Status(); st.LastErr == "" || st.Connects != 0 {
				t.Fatalf("status %+v", st)
			}
		})
	}
	// A refusal is not a reason to stop without StopOnRefusal: Run keeps
	// retrying until ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	sub := NewSubscriber(SubscriberOptions{Target: &StaticTarget{Addrs: []string{plainSecret}}, Group: "g", Name: "t",
		Applier: &nopApplier{}, Logger: quiet})
	if err := sub.Run(ctx); err != nil || ctx.Err() == nil {
		t.Fatalf("Run without StopOnRefusal = %v before ctx ended", err)
	}
}

// nopApplier applies nothing.
type nopApplier struct{}

func (*nopApplier) Resume() (string, Position, bool)              { return "", Position{}, false }
func (*nopApplier) Apply(context.Context, string, []Record) error { return nil }
