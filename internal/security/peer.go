package security

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// SecretMetadataKey is the gRPC metadata key carrying a peer secret.
const SecretMetadataKey = "x-tandem-peer-secret"

// ChangeStreamPrefix is the method prefix of the change stream service
// (package cdc), which accepts its own credential.
const ChangeStreamPrefix = "/tandem.cdc."

// healthPrefix: the gRPC health service is open to anyone (it serves no
// data).
const healthPrefix = "/grpc.health.v1.Health/"

// PeerSecurity secures the peer port (replication and change stream) and
// the connections to it.
type PeerSecurity struct {
	// TLS is this node's certificate, key and the group CA. With a
	// certificate, the peer port serves TLS and requires a client
	// certificate signed by CA (mTLS: only holders of a group certificate
	// get past the handshake); dialers present the certificate and verify
	// the server against CA.
	TLS TLSFiles
	// ClusterSecret, if set, must be presented (metadata
	// x-tandem-peer-secret) on every peer RPC: replication streams,
	// snapshot transfer, and the change stream unless ChangeStreamSecret
	// is set.
	ClusterSecret string
	// ChangeStreamSecret, if set, is the credential the change stream
	// (leading/alternative subscribers, `tandem cdc tail`) must present
	// instead of the cluster secret.
	ChangeStreamSecret string
}

// Enabled reports whether anything is configured.
func (p PeerSecurity) Enabled() bool {
	return p.TLS.Enabled() || p.TLS.CA != "" || p.ClusterSecret != "" || p.ChangeStreamSecret != ""
}

// ServerOptions returns the peer gRPC server's options: TLS credentials
// (mTLS) and the interceptors that check the secret of every RPC and
// stream before the handler runs, so a refused caller receives no data.
func (p PeerSecurity) ServerOptions() ([]grpc.ServerOption, error) {
	var opts []grpc.ServerOption
	if p.TLS.Enabled() {
		f := p.TLS
		if f.CA != "" && f.ClientAuth == "" {
			f.ClientAuth = ClientAuthRequire
		}
		cfg, err := ServerConfig(f, "h2")
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	if p.ClusterSecret != "" || p.ChangeStreamSecret != "" {
		opts = append(opts,
			grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				if err := p.check(ctx, info.FullMethod); err != nil {
					return nil, err
				}
				return h(ctx, req)
			}),
			grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				if err := p.check(ss.Context(), info.FullMethod); err != nil {
					return err
				}
				return h(srv, ss)
			}))
	}
	return opts, nil
}

// ErrPeerUnauthenticated is the status a refused peer gets.
var errPeerUnauthenticated = status.Error(codes.Unauthenticated, "tandem peer port: missing or wrong peer credential")

// check verifies the secret presented for method.
func (p PeerSecurity) check(ctx context.Context, method string) error {
	if strings.HasPrefix(method, healthPrefix) {
		return nil
	}
	want := p.ClusterSecret
	if strings.HasPrefix(method, ChangeStreamPrefix) && p.ChangeStreamSecret != "" {
		want = p.ChangeStreamSecret
	}
	if want == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, got := range md.Get(SecretMetadataKey) {
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return nil
		}
	}
	return errPeerUnauthenticated
}

// SecretHeader carries the cluster secret on the node's HTTP side port
// for operations that change roles (POST /v1/switchover).
const SecretHeader = "X-Tandem-Cluster-Secret"

// CheckHTTP reports whether an HTTP request to a role-changing endpoint
// may proceed: always without a cluster secret, else only when it
// presents the secret in SecretHeader.
func (p PeerSecurity) CheckHTTP(h http.Header) bool {
	if p.ClusterSecret == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(h.Get(SecretHeader)), []byte(p.ClusterSecret)) == 1
}

// DialOptions returns the options to dial a peer port: TLS (presenting
// this node's certificate, verifying the server against the CA) when a
// CA or certificate is configured, else plaintext; and secret, if not
// empty, sent with every RPC.
func (p PeerSecurity) DialOptions(secret string) ([]grpc.DialOption, error) {
	var opts []grpc.DialOption
	if p.TLS.Enabled() || p.TLS.CA != "" {
		cfg, err := ClientConfig(TLSFiles{Cert: p.TLS.Cert, Key: p.TLS.Key, CA: p.TLS.CA}, "")
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if secret != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(secretCreds(secret)))
	}
	return opts, nil
}

// secretCreds sends a peer secret with every RPC.
type secretCreds string

func (s secretCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{SecretMetadataKey: string(s)}, nil
}

// RequireTransportSecurity is false so a secret also works without TLS
// (on a trusted network); use TLS to keep it from being sniffed.
func (s secretCreds) RequireTransportSecurity() bool { return false }

// String never shows the secret.
func (s secretCreds) String() string { return "secret(redacted)" }
