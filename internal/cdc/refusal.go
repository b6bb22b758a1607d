package cdc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tandem-db/tandem/internal/security"
)

// ErrRefused is wrapped by the error a subscription gets when the peer
// port refuses it: a missing or wrong change stream credential, or a TLS
// handshake that failed (plaintext against a TLS port, a certificate the
// other side does not trust, no client certificate where mTLS is
// required). Retrying does not help until the configuration changes.
var ErrRefused = errors.New("cdc: the peer port refused the subscription")

// tlsFailureMarks are substrings of the errors gRPC returns for a TLS
// handshake that failed on either side.
var tlsFailureMarks = []string{
	"authentication handshake failed",
	"x509:",
	"tls:",
	"first record does not look like a TLS handshake",
	// A plaintext client reading a TLS server's alert as an HTTP/2 frame.
	"error reading server preface",
	"http2: frame too large",
}

// IsRefusal reports whether err (from Open or a stream) is the peer
// port refusing the subscriber's credential or TLS settings rather than a
// transient failure (node down, failover): status Unauthenticated or
// PermissionDenied, or a failed TLS handshake.
func IsRefusal(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrRefused) {
		return true
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unauthenticated, codes.PermissionDenied:
		return true
	case codes.Unavailable:
		msg := st.Message()
		for _, m := range tlsFailureMarks {
			if strings.Contains(msg, m) {
				return true
			}
		}
	}
	return false
}

// refused wraps err, a refusal by the peer port at addr, in ErrRefused
// with a hint naming what to check.
func refused(addr string, err error) error {
	hint := "check the change stream credential (--secret-file)"
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable {
		hint = "TLS handshake failed: check --peer-tls-cert/--peer-tls-key/--peer-tls-ca against the peer port's TLS settings"
		if strings.Contains(st.Message(), "server preface") {
			hint = "the peer port closed the connection at once: it probably serves TLS (set --peer-tls-ca)"
		}
	}
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Code().String() + ": " + st.Message()
	}
	return fmt.Errorf("%w at %s: %s (%s)", ErrRefused, addr, msg, hint)
}

// ClientDialOptions returns the options a stand-alone subscriber (`tandem
// cdc tail`) dials a peer port with: TLS when tlsFiles has a certificate
// or a CA (presenting the certificate, verifying the server against the
// CA), else plaintext; and secret, if not empty, sent as the change stream
// credential with every call.
//
// TLS is capped at version 1.2: in TLS 1.3 a server that rejects the
// client certificate does so after the client considers the handshake
// done, and the client sees only a broken connection on its first read;
// in TLS 1.2 the rejection is a handshake alert, which IsRefusal reports.
// (The peer port accepts TLS 1.2 and newer.)
func ClientDialOptions(tlsFiles security.TLSFiles, secret string) ([]grpc.DialOption, error) {
	var opts []grpc.DialOption
	if tlsFiles.Enabled() || tlsFiles.CA != "" {
		cfg, err := security.ClientConfig(security.TLSFiles{Cert: tlsFiles.Cert, Key: tlsFiles.Key, CA: tlsFiles.CA}, "")
		if err != nil {
			return nil, fmt.Errorf("cdc: peer TLS: %w", err)
		}
		cfg.MaxVersion = tls.VersionTLS12
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if secret != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(streamSecret(secret)))
	}
	return opts, nil
}

// streamSecret sends the change stream credential with every call (in
// the metadata key the peer port checks, security.SecretMetadataKey).
type streamSecret string

func (s streamSecret) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{security.SecretMetadataKey: string(s)}, nil
}

// RequireTransportSecurity is false: the peer port may be plaintext on a
// trusted network.
func (s streamSecret) RequireTransportSecurity() bool { return false }

// String never shows the secret.
func (s streamSecret) String() string { return "secret(redacted)" }
