package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
)

// Client certificate policies (TLSFiles.ClientAuth).
const (
	ClientAuthNone    = "none"    // no client certificate asked
	ClientAuthRequire = "require" // a client certificate signed by CA is required (mTLS)
)

// TLSFiles names the PEM files of one TLS endpoint. Cert == "" means TLS
// is off.
type TLSFiles struct {
	Cert string // certificate chain (PEM)
	Key  string // private key (PEM)
	CA   string // CA bundle: verifies the other side (servers: client certs; clients: the server)
	// ClientAuth is the server's client-certificate policy: "none"
	// (default) or "require".
	ClientAuth string
}

// Enabled reports whether TLS is configured.
func (f TLSFiles) Enabled() bool { return f.Cert != "" || f.Key != "" }

// Validate checks the combination of fields (not the files).
func (f TLSFiles) Validate() error {
	switch {
	case (f.Cert == "") != (f.Key == ""):
		return errors.New("security: TLS needs both a certificate and a key file")
	case f.ClientAuth != "" && f.ClientAuth != ClientAuthNone && f.ClientAuth != ClientAuthRequire:
		return fmt.Errorf("security: client auth %q: must be none or require", f.ClientAuth)
	case f.ClientAuth == ClientAuthRequire && f.CA == "":
		return errors.New("security: client auth require needs a CA file to verify client certificates")
	case f.ClientAuth == ClientAuthRequire && !f.Enabled():
		return errors.New("security: client auth require needs a server certificate and key")
	}
	return nil
}

// LoadCAPool reads a PEM CA bundle.
func LoadCAPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("security: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("security: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ServerConfig builds the server side tls.Config of f (nil, nil when TLS
// is off). nextProtos is the ALPN list ("h2" for gRPC).
func ServerConfig(f TLSFiles, nextProtos ...string) (*tls.Config, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if !f.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("security: load certificate %s / key %s: %w", f.Cert, f.Key, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		NextProtos: slices.Clone(nextProtos)}
	if f.CA != "" {
		pool, err := LoadCAPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	if f.ClientAuth == ClientAuthRequire {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientConfig builds the client side tls.Config of f: the server is
// verified against f.CA (the system roots when empty) and f.Cert/f.Key,
// when given, are presented as the client certificate. serverName
// overrides the name checked in the server's certificate ("" = the dialled
// host).
func ClientConfig(f TLSFiles, serverName string) (*tls.Config, error) {
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("security: TLS needs both a certificate and a key file")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if f.CA != "" {
		pool, err := LoadCAPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("security: load certificate %s / key %s: %w", f.Cert, f.Key, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// ClientPortConfig is ServerConfig for the Milvus client port, where gRPC
// (HTTP/2) and REST (HTTP/1.1) share one listener: a client that offers
// "http/1.1" in ALPN (browsers, curl, net/http) is given HTTP/1.1, so
// its requests reach the REST handler; gRPC clients, which offer only
// "h2", get h2.
func ClientPortConfig(f TLSFiles) (*tls.Config, error) {
	base, err := ServerConfig(f, "h2", "http/1.1")
	if err != nil || base == nil {
		return base, err
	}
	h1 := base.Clone()
	h1.NextProtos = []string{"http/1.1"}
	h2 := base.Clone()
	h2.NextProtos = []string{"h2"}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if slices.Contains(hello.SupportedProtos, "http/1.1") {
			return h1, nil
		}
		return h2, nil
	}
	return base, nil
}
