package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/security"
)

// ErrInvalidConfig is wrapped by every Config error.
var ErrInvalidConfig = errors.New("proxy: invalid configuration")

// Defaults (DefaultConfig; zero fields of a Config given to Start take
// them too).
const (
	DefaultGroup           = "default"
	DefaultListen          = ":19530"
	DefaultHTTPListen      = "127.0.0.1:9092" // loopback: expose it by choice
	DefaultHold            = 5 * time.Second
	DefaultRetryBackoff    = 25 * time.Millisecond
	DefaultMaxRetryBackoff = 400 * time.Millisecond
	DefaultMaxMsgBytes     = 64 << 20
	// DefaultIdleBackendTimeout is how long a connection to a node that is
	// no longer the active stays open without requests before it is closed.
	DefaultIdleBackendTimeout = time.Minute
)

// Config configures a Proxy.
type Config struct {
	// Group is the HA group whose active the proxy forwards to.
	Group string
	// Arbiter lists the etcd endpoints of the arbiter ("host:port").
	Arbiter []string
	// Dial configures the arbiter connection.
	Dial arbiter.DialOptions
	// Listen is the client address: Milvus gRPC and, when REST is set,
	// RESTful v2 (HTTP/1.x) on the same port. Default ":19530".
	Listen string
	// HTTPListen is the side HTTP address for /healthz, /metrics and
	// /status; "off" disables it. Default "127.0.0.1:9092".
	HTTPListen string
	// Hold bounds how long one request may wait for an active that
	// accepts it: while the group has no active, and across the proxy's
	// own retries. It is measured from the request's arrival and never
	// extends past the client's deadline. Default 5s.
	Hold time.Duration
	// RetryBackoff is the first pause between two attempts of a request;
	// it doubles up to MaxRetryBackoff. A change of active ends a pause at
	// once. Defaults 25ms and 400ms.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// REST forwards non-gRPC (HTTP/1.x) requests on Listen to the active's
	// RESTful v2 API. DefaultConfig sets it.
	REST bool
	// MaxMsgBytes bounds one request or response (gRPC message or REST
	// body). Default 64 MiB, as the node.
	MaxMsgBytes int
	// IdleBackendTimeout: see DefaultIdleBackendTimeout.
	IdleBackendTimeout time.Duration
	// TLS turns on TLS for the client address (gRPC and REST) when Cert
	// and Key are set; CA with ClientAuth "require" asks clients for a
	// certificate (mTLS). Default: plaintext.
	TLS security.TLSFiles
	// BackendTLS makes the proxy reach the nodes' client ports over TLS
	// when any field is set: CA verifies the nodes' certificates (default
	// the system roots), Cert/Key are presented as the client certificate
	// (nodes with --tls-client-auth require). Default: plaintext.
	BackendTLS security.TLSFiles
	// Version is reported on /status.
	Version string
	// Logger receives the proxy's logs (default slog.Default()).
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default set, REST forwarding
// on, and the arbiter at 127.0.0.1:2379.
func DefaultConfig() Config {
	return Config{
		Group:              DefaultGroup,
		Arbiter:            []string{"127.0.0.1:2379"},
		Listen:             DefaultListen,
		HTTPListen:         DefaultHTTPListen,
		Hold:               DefaultHold,
		RetryBackoff:       DefaultRetryBackoff,
		MaxRetryBackoff:    DefaultMaxRetryBackoff,
		REST:               true,
		MaxMsgBytes:        DefaultMaxMsgBytes,
		IdleBackendTimeout: DefaultIdleBackendTimeout,
	}
}

// withDefaults fills zero fields (REST is left as given).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Group == "" {
		c.Group = d.Group
	}
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.HTTPListen == "" {
		c.HTTPListen = d.HTTPListen
	}
	if c.Hold == 0 {
		c.Hold = d.Hold
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = d.RetryBackoff
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = max(d.MaxRetryBackoff, c.RetryBackoff)
	}
	if c.MaxMsgBytes == 0 {
		c.MaxMsgBytes = d.MaxMsgBytes
	}
	if c.IdleBackendTimeout == 0 {
		c.IdleBackendTimeout = d.IdleBackendTimeout
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first field with an unusable value; the error
// names the field and the value and wraps ErrInvalidConfig. Zero values
// that Start replaces by defaults are accepted.
func (c Config) Validate() error {
	bad := func(field string, value any, why string) error {
		return fmt.Errorf("proxy: %s = %v: %s: %w", field, value, why, ErrInvalidConfig)
	}
	switch {
	case strings.Contains(c.Group, "/"):
		return bad("Group", fmt.Sprintf("%q", c.Group), "must not contain '/'")
	case len(c.Group) > 128:
		return bad("Group", fmt.Sprintf("%q", c.Group), "must be at most 128 characters")
	case len(nonEmpty(c.Arbiter)) == 0:
		return bad("Arbiter", fmt.Sprintf("%q", c.Arbiter), "at least one etcd endpoint is required")
	case c.Listen == "off":
		return bad("Listen", `"off"`, "the client address cannot be disabled")
	case c.Hold < 0:
		return bad("Hold", c.Hold, "must be >= 0")
	case c.RetryBackoff < 0:
		return bad("RetryBackoff", c.RetryBackoff, "must be >= 0")
	case c.MaxRetryBackoff < 0:
		return bad("MaxRetryBackoff", c.MaxRetryBackoff, "must be >= 0")
	case c.MaxRetryBackoff != 0 && c.RetryBackoff > c.MaxRetryBackoff:
		return bad("RetryBackoff", c.RetryBackoff, fmt.Sprintf("must not exceed MaxRetryBackoff (%v)", c.MaxRetryBackoff))
	case c.MaxMsgBytes < 0:
		return bad("MaxMsgBytes", c.MaxMsgBytes, "must be >= 0")
	case c.IdleBackendTimeout < 0:
		return bad("IdleBackendTimeout", c.IdleBackendTimeout, "must be >= 0")
	}
	if err := c.TLS.Validate(); err != nil {
		return fmt.Errorf("proxy: TLS: %w: %w", ErrInvalidConfig, err)
	}
	if (c.BackendTLS.Cert == "") != (c.BackendTLS.Key == "") {
		return bad("BackendTLS", "", "needs both a certificate and a key file")
	}
	if err := c.Dial.Validate(); err != nil {
		return fmt.Errorf("proxy: Dial: %w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// nonEmpty returns the trimmed non-empty strings of in.
func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// backendTLSOn reports whether the nodes are dialled with TLS.
func (c Config) backendTLSOn() bool {
	return c.BackendTLS.Cert != "" || c.BackendTLS.Key != "" || c.BackendTLS.CA != ""
}
