package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	milvusapi "github.com/tandem-db/tandem/internal/api/milvus"
	"github.com/tandem-db/tandem/internal/arbiter"
	"github.com/tandem-db/tandem/internal/cdc"
	"github.com/tandem-db/tandem/internal/node"
	"github.com/tandem-db/tandem/internal/security"
)

// clientSecurity holds the client port's TLS and authentication flags,
// shared by standalone and node.
type clientSecurity struct {
	cert, key, ca, clientAuth string
	auth                      bool
	rootPwFile                string
	requestTimeout            time.Duration
}

func addClientSecurityFlags(f *pflag.FlagSet) *clientSecurity {
	c := &clientSecurity{}
	f.StringVar(&c.cert, "tls-cert", "", "client port TLS certificate (PEM); with --tls-key turns TLS on for Milvus gRPC and REST")
	f.StringVar(&c.key, "tls-key", "", "client port TLS private key (PEM)")
	f.StringVar(&c.ca, "tls-ca", "", "CA bundle (PEM) verifying client certificates on the client port (and, on a node, the default --peer-tls-ca)")
	f.StringVar(&c.clientAuth, "tls-client-auth", "none", "client port client certificates: none or require (mTLS, signed by --tls-ca)")
	f.BoolVar(&c.auth, "auth", false, "require a Milvus user and password (or API key user:password) on the client port")
	f.StringVar(&c.rootPwFile, "root-password-file", "", "with --auth: file holding root's initial password (or set TANDEM_ROOT_PASSWORD); required until root's password is in the replicated catalog")
	f.DurationVar(&c.requestTimeout, "request-timeout", 0, "deadline for client requests that carry none (0: none)")
	return c
}

// apply fills cfg's client TLS, authentication and request timeout.
func (c *clientSecurity) apply(cfg *node.Config) error {
	cfg.ClientTLS = security.TLSFiles{Cert: c.cert, Key: c.key, CA: c.ca, ClientAuth: c.clientAuth}
	cfg.RequestTimeout = c.requestTimeout
	if !c.auth {
		if c.rootPwFile != "" {
			return fmt.Errorf("--root-password-file needs --auth")
		}
		return nil
	}
	pw := os.Getenv("TANDEM_ROOT_PASSWORD")
	if c.rootPwFile != "" {
		var err error
		if pw, err = security.ReadSecretFile(c.rootPwFile); err != nil {
			return fmt.Errorf("--root-password-file: %w", err)
		}
	}
	cfg.Auth = &milvusapi.AuthOptions{}
	if pw != "" {
		if len(pw) < 6 {
			return fmt.Errorf("the root password must have at least 6 characters")
		}
		h, err := security.HashPassword(pw)
		if err != nil {
			return err
		}
		cfg.Auth.RootPasswordHash = h
	}
	return nil
}

// clientSecurityFlags registers the client port's TLS and authentication
// flags (standalone); the returned function fills cfg. Every default is
// off: plaintext, no authentication.
func clientSecurityFlags(f *pflag.FlagSet) func(cfg *node.Config) error {
	return addClientSecurityFlags(f).apply
}

// securityFlags registers the node's TLS, peer authentication and client
// authentication flags (the client ones as standalone's); the returned
// function fills cfg. Every default is off: plaintext, open peer port, no
// authentication.
func securityFlags(f *pflag.FlagSet) func(cfg *node.Config) error {
	c := addClientSecurityFlags(f)
	var (
		peerCert, peerKey, peerCA              string
		secretFile, csSecretFile, upSecretFile string
	)
	f.StringVar(&peerCert, "peer-tls-cert", "", "peer port certificate (default --tls-cert): the peer port serves TLS and requires a client certificate signed by --peer-tls-ca; peers dial with it")
	f.StringVar(&peerKey, "peer-tls-key", "", "peer port private key (default --tls-key)")
	f.StringVar(&peerCA, "peer-tls-ca", "", "group CA (default --tls-ca): verifies peers' certificates both ways")
	f.StringVar(&secretFile, "cluster-secret-file", "", "file holding the group's shared secret: every replication and change stream call must present it")
	f.StringVar(&csSecretFile, "change-stream-secret-file", "", "file holding the credential change stream subscribers (alternative deployments, tandem cdc tail) must present instead of the cluster secret")
	f.StringVar(&upSecretFile, "upstream-secret-file", "", "with --alternative-of: the leading deployment's change stream credential")
	return func(cfg *node.Config) error {
		if err := c.apply(cfg); err != nil {
			return err
		}
		pt := security.TLSFiles{Cert: peerCert, Key: peerKey, CA: peerCA}
		if pt.Cert == "" && pt.Key == "" {
			pt.Cert, pt.Key = c.cert, c.key
		}
		if pt.CA == "" {
			pt.CA = c.ca
		}
		if pt.Enabled() && pt.CA == "" {
			return fmt.Errorf("peer TLS needs a CA (--peer-tls-ca or --tls-ca) to verify the other members")
		}
		cfg.Peer.TLS = pt
		var err error
		read := func(flag, path string) string {
			if path == "" || err != nil {
				return ""
			}
			var s string
			if s, err = security.ReadSecretFile(path); err != nil {
				err = fmt.Errorf("--%s: %w", flag, err)
			}
			return s
		}
		cfg.Peer.ClusterSecret = read("cluster-secret-file", secretFile)
		cfg.Peer.ChangeStreamSecret = read("change-stream-secret-file", csSecretFile)
		cfg.UpstreamSecret = read("upstream-secret-file", upSecretFile)
		return err
	}
}

func newCertsCmd() *cobra.Command {
	var dir, hosts string
	var validity time.Duration
	cmd := &cobra.Command{
		Use:   "certs NAME...",
		Short: "Create a CA and node certificates for a test or small deployment",
		Long: `Create (or reuse) a CA in --dir (ca.crt, ca.key) and, for each NAME, a
certificate NAME.crt / NAME.key signed by it, usable as server and client
certificate (the peer port authenticates members by it). Subject
alternative names: NAME, localhost, 127.0.0.1, ::1 and --hosts.

  tandem certs --dir certs n1 n2 n3 arbiter client`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := security.GenerateCA(dir, "tandem CA", validity); err != nil {
				return err
			}
			sans := []string{"localhost", "127.0.0.1", "::1"}
			for _, h := range strings.Split(hosts, ",") {
				if h = strings.TrimSpace(h); h != "" {
					sans = append(sans, h)
				}
			}
			for _, name := range args {
				if err := security.GenerateCert(dir, name, sans, validity); err != nil {
					return err
				}
				c, k := security.CertFiles(dir, name)
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s\n", name, c, k)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA: %s/%s\n", dir, security.CACertFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "certs", "output directory")
	cmd.Flags().StringVar(&hosts, "hosts", "", "extra comma-separated host names or IPs for every certificate")
	cmd.Flags().DurationVar(&validity, "validity", 365*24*time.Hour, "certificate validity")
	return cmd
}

// peerClient holds the flags of a command that dials a node's peer port
// as a change stream subscriber (tandem cdc tail): the peer TLS files and
// the change stream credential.
type peerClient struct{ cert, key, ca, secretFile string }

// peerClientFlags registers --peer-tls-cert/--peer-tls-key/--peer-tls-ca
// (the names node uses for its peer port) and --secret-file on f.
func peerClientFlags(f *pflag.FlagSet) *peerClient {
	p := &peerClient{}
	f.StringVar(&p.cert, "peer-tls-cert", "", "client certificate (PEM) presented to the peer port (nodes with peer TLS require one signed by the group CA)")
	f.StringVar(&p.key, "peer-tls-key", "", "private key (PEM) of --peer-tls-cert")
	f.StringVar(&p.ca, "peer-tls-ca", "", "group CA (PEM) verifying the peer port's certificate; setting any --peer-tls-* flag dials with TLS")
	f.StringVar(&p.secretFile, "secret-file", "", "file holding the change stream credential (the nodes' --change-stream-secret-file, else their --cluster-secret-file)")
	return p
}

// dialOptions returns the gRPC options to dial a peer port with.
func (p *peerClient) dialOptions() ([]grpc.DialOption, error) {
	var secret string
	if p.secretFile != "" {
		var err error
		if secret, err = security.ReadSecretFile(p.secretFile); err != nil {
			return nil, fmt.Errorf("--secret-file: %w", err)
		}
	}
	if (p.cert == "") != (p.key == "") {
		return nil, fmt.Errorf("--peer-tls-cert and --peer-tls-key go together")
	}
	o, err := cdc.ClientDialOptions(security.TLSFiles{Cert: p.cert, Key: p.key, CA: p.ca}, secret)
	if err != nil {
		return nil, fmt.Errorf("--peer-tls-*: %w", err)
	}
	return o, nil
}

// arbiterTLS holds the --arbiter-tls-* flags shared by every command that
// talks to the arbiter (node, proxy, status, switchover, promote,
// deployment, cdc tail). With none of them set, "host:port" endpoints
// are plaintext and https:// endpoints are verified against the system
// roots.
type arbiterTLS struct{ cert, key, ca string }

// arbiterTLSFlags registers the --arbiter-tls-* flags on f.
func arbiterTLSFlags(f *pflag.FlagSet) *arbiterTLS {
	a := &arbiterTLS{}
	f.StringVar(&a.cert, "arbiter-tls-cert", "", "client certificate (PEM) presented to the arbiter (its --client-cert-auth); setting any --arbiter-tls-* flag dials the arbiter with TLS")
	f.StringVar(&a.key, "arbiter-tls-key", "", "private key (PEM) of --arbiter-tls-cert")
	f.StringVar(&a.ca, "arbiter-tls-ca", "", "CA bundle (PEM) verifying the arbiter's certificate (default: the system roots)")
	return a
}

// config is the TLS configuration towards the arbiter: nil when no flag
// is set (a nil receiver too).
func (a *arbiterTLS) config() (*tls.Config, error) {
	if a == nil || a.cert == "" && a.key == "" && a.ca == "" {
		return nil, nil
	}
	c, err := security.ClientConfig(security.TLSFiles{Cert: a.cert, Key: a.key, CA: a.ca}, "")
	if err != nil {
		return nil, fmt.Errorf("--arbiter-tls-*: %w", err)
	}
	return c, nil
}

// options returns arbiter.DialOptions with logger and the TLS settings.
func (a *arbiterTLS) options(logger *slog.Logger) (arbiter.DialOptions, error) {
	c, err := a.config()
	return arbiter.DialOptions{Logger: logger, TLS: c}, err
}

// dial connects to the arbiter at eps with logger and the TLS settings.
func (a *arbiterTLS) dial(ctx context.Context, eps []string, logger *slog.Logger) (*arbiter.Client, error) {
	o, err := a.options(logger)
	if err != nil {
		return nil, err
	}
	return arbiter.Dial(ctx, eps, o)
}
