package arbiter

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"
)

// DialOptions configures Dial. Zero fields take the defaults below.
type DialOptions struct {
	// DialTimeout bounds connecting and the first round trip (default 2s).
	DialTimeout time.Duration
	// KeepAliveTime is the gRPC keepalive ping interval used to notice a
	// dead or partitioned etcd member and move to another endpoint
	// (default 5s: etcd's default grpc-keepalive-min-time; a shorter
	// interval makes an external etcd close the connection for pinging too
	// often. Members started by StartMember accept pings every second.)
	KeepAliveTime time.Duration
	// KeepAliveTimeout is how long to wait for a ping answer (default 2s).
	KeepAliveTimeout time.Duration
	// Logger receives the etcd client's errors (default slog.Default()).
	Logger *slog.Logger
	// TLS, when set, is used to reach the endpoints given as "host:port"
	// or https:// URLs: it verifies the members' certificates (RootCAs)
	// and may present a client certificate (Certificates). Without it,
	// https:// endpoints are verified against the system roots and
	// "host:port" endpoints are plaintext. http:// endpoints are always
	// plaintext.
	TLS *tls.Config
}

func (o DialOptions) withDefaults() DialOptions {
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.KeepAliveTime == 0 {
		o.KeepAliveTime = 5 * time.Second
	}
	if o.KeepAliveTimeout == 0 {
		o.KeepAliveTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate reports the first field with an unusable value.
func (o DialOptions) Validate() error {
	switch {
	case o.DialTimeout < 0:
		return fmt.Errorf("arbiter: DialOptions.DialTimeout = %v: must be >= 0: %w", o.DialTimeout, ErrInvalidConfig)
	case o.KeepAliveTime < 0:
		return fmt.Errorf("arbiter: DialOptions.KeepAliveTime = %v: must be >= 0: %w", o.KeepAliveTime, ErrInvalidConfig)
	case o.KeepAliveTimeout < 0:
		return fmt.Errorf("arbiter: DialOptions.KeepAliveTimeout = %v: must be >= 0: %w", o.KeepAliveTimeout, ErrInvalidConfig)
	}
	return nil
}

// Client is a connection to the arbiter (an etcd cluster, embedded or
// external). It is safe for concurrent use.
type Client struct {
	cli    *clientv3.Client
	logger *slog.Logger
}

// Dial connects to the etcd cluster at endpoints ("host:port",
// "http://host:port" or "https://host:port"; see DialOptions.TLS) and checks, within ctx and DialTimeout, that one of
// them answers.
func Dial(ctx context.Context, endpoints []string, opts DialOptions) (*Client, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	eps := slices.DeleteFunc(slices.Clone(endpoints), func(s string) bool { return s == "" })
	if len(eps) == 0 {
		return nil, fmt.Errorf("arbiter: dial: no endpoints: %w", ErrInvalidConfig)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            eps,
		DialTimeout:          opts.DialTimeout,
		DialKeepAliveTime:    opts.KeepAliveTime,
		DialKeepAliveTimeout: opts.KeepAliveTimeout,
		Logger:               newZapLogger(opts.Logger, zapcore.ErrorLevel, "etcd-client", nil),
		TLS:                  opts.TLS,
	})
	if err != nil {
		return nil, fmt.Errorf("arbiter: dial %v: %w", eps, err)
	}
	cctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	// A serializable read succeeds on any live member, quorum or not.
	if _, err := cli.Get(cctx, KeyPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("arbiter: dial %v: %w", eps, err)
	}
	return &Client{cli: cli, logger: opts.Logger}, nil
}

// Close closes the connection. Sessions created through it stop renewing
// their leases (their Done channels close); the leases then expire.
func (c *Client) Close() error {
	if err := c.cli.Close(); err != nil {
		return fmt.Errorf("arbiter: close: %w", err)
	}
	return nil
}

// Etcd returns the underlying etcd client.
func (c *Client) Etcd() *clientv3.Client { return c.cli }

// Group returns a handle on group name. It does no I/O; an invalid name
// makes every method of the handle fail with ErrInvalidName.
func (c *Client) Group(name string) *Group { return &Group{c: c, name: name} }

// Groups lists the groups that have any key in the arbiter, sorted.
func (c *Client) Groups(ctx context.Context) ([]string, error) {
	resp, err := c.cli.Get(ctx, KeyPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("arbiter: list groups: %w", err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		if g, ok := groupOfKey(string(kv.Key)); ok && (len(out) == 0 || out[len(out)-1] != g) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
