package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/arbiter"
)

func newArbiterCmd() *cobra.Command {
	var (
		lf                                        *logFlags
		name, dataDir, clientListen, peerListen   string
		advClient, advPeer, initialCluster, state string
		heartbeat, election                       time.Duration
		cert, key, ca, peerCert, peerKey, peerCA  string
		clientCertAuth                            bool
	)
	cmd := &cobra.Command{
		Use:   "arbiter",
		Short: "Run one embedded etcd member of the arbiter cluster (three or five of them form the arbiter)",
		Long: `Run one member of the arbiter: an embedded etcd member that holds the HA
groups' membership, leader keys, epochs and sync sets.

Start three (or five) of them with the same --initial-cluster, for example:

  tandem arbiter --name a1 --data-dir /var/lib/tandem/a1 \
    --client-listen 10.0.0.1:2379 --peer-listen 10.0.0.1:2380 \
    --initial-cluster a1=http://10.0.0.1:2380,a2=http://10.0.0.2:2380,a3=http://10.0.0.3:2380

Addresses may be host:port or http(s):// URLs; several are separated by
commas. With --tls-cert/--tls-key the client URLs serve TLS (host:port
means https://), with --peer-tls-cert/--peer-tls-key (default: the same
pair) the peer URLs too; the members then verify each other with
--peer-tls-ca (default --tls-ca) both ways. --client-cert-auth requires
clients (tandem node, proxy, status, ...) to present a certificate signed
by --tls-ca (their --arbiter-tls-cert/--arbiter-tls-key):

  tandem arbiter --name a1 --tls-cert certs/a1.crt --tls-key certs/a1.key \
    --tls-ca certs/ca.crt --client-cert-auth ... Listening on 0.0.0.0 needs --advertise-client / --advertise-peer.
--initial-cluster defaults to this member alone; it only matters the first
time a data directory is used.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := lf.logger()
			if err != nil {
				return err
			}
			cfg := arbiter.DefaultMemberConfig(name, dataDir)
			cfg.ListenClientURLs = splitAddrList(clientListen)
			cfg.ListenPeerURLs = splitAddrList(peerListen)
			cfg.AdvertiseClientURLs = splitAddrList(advClient)
			cfg.AdvertisePeerURLs = splitAddrList(advPeer)
			cfg.InitialCluster = initialCluster
			cfg.ClusterState = state
			cfg.HeartbeatInterval, cfg.ElectionTimeout = heartbeat, election
			cfg.Logger = logger
			if clientCertAuth && ca == "" {
				return fmt.Errorf("--client-cert-auth needs --tls-ca")
			}
			if (cert == "") != (key == "") {
				return fmt.Errorf("--tls-cert and --tls-key go together")
			}
			cfg.ClientTLS = arbiter.MemberTLS{CertFile: cert, KeyFile: key, TrustedCAFile: ca, ClientCertAuth: clientCertAuth}
			if peerCert == "" && peerKey == "" {
				peerCert, peerKey = cert, key
			}
			if peerCA == "" {
				peerCA = ca
			}
			if peerCert != "" && peerCA == "" {
				return fmt.Errorf("peer TLS needs a CA (--peer-tls-ca or --tls-ca) to verify the other members")
			}
			cfg.PeerTLS = arbiter.MemberTLS{CertFile: peerCert, KeyFile: peerKey, TrustedCAFile: peerCA}
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			logger.Info("tandem arbiter starting (a new cluster waits for a quorum of members)",
				"name", name, "data_dir", dataDir, "initial_cluster", cfg.InitialCluster)
			m, err := arbiter.StartMember(ctx, cfg)
			if err != nil {
				return err
			}
			logger.Info("tandem arbiter serving", "name", name,
				"client", strings.Join(m.ClientEndpoints(), ","), "peer", strings.Join(m.PeerEndpoints(), ","))
			var runErr error
			select {
			case <-ctx.Done():
				logger.Info("shutting down", "cause", context.Cause(ctx))
			case runErr = <-m.Err():
				logger.Error("arbiter member stopped", "err", runErr)
			}
			stop() // a second signal kills the process at once
			m.Close()
			return runErr
		},
	}
	host, _ := os.Hostname()
	f := cmd.Flags()
	f.StringVar(&name, "name", host, "member name, unique in the arbiter cluster")
	f.StringVar(&dataDir, "data-dir", "./tandem-arbiter", "etcd data directory")
	f.StringVar(&clientListen, "client-listen", "127.0.0.1:2379", "address(es) for clients (tandem nodes, tandem status, etcdctl)")
	f.StringVar(&peerListen, "peer-listen", "127.0.0.1:2380", "address(es) for the other arbiter members")
	f.StringVar(&advClient, "advertise-client", "", "client address(es) told to others (default: --client-listen)")
	f.StringVar(&advPeer, "advertise-peer", "", "peer address(es) told to the other members (default: --peer-listen)")
	f.StringVar(&initialCluster, "initial-cluster", "", "every member as name=peerURL,... (default: this member alone)")
	f.StringVar(&state, "initial-cluster-state", arbiter.ClusterStateNew, "new (bootstrap) or existing (join a running cluster, after etcdctl member add)")
	f.DurationVar(&heartbeat, "heartbeat-interval", 100*time.Millisecond, "raft heartbeat interval")
	f.DurationVar(&election, "election-timeout", time.Second, "raft election timeout (at least 5 heartbeats)")
	lf = addLogFlags(f)
	f.StringVar(&cert, "tls-cert", "", "client URLs' TLS certificate (PEM); with --tls-key turns TLS on for clients (https)")
	f.StringVar(&key, "tls-key", "", "client URLs' TLS private key (PEM)")
	f.StringVar(&ca, "tls-ca", "", "CA bundle (PEM) verifying client certificates (with --client-cert-auth), and the default --peer-tls-ca")
	f.BoolVar(&clientCertAuth, "client-cert-auth", false, "require clients to present a certificate signed by --tls-ca (mTLS)")
	f.StringVar(&peerCert, "peer-tls-cert", "", "peer URLs' certificate (default --tls-cert): TLS between arbiter members, each verifying the other's certificate")
	f.StringVar(&peerKey, "peer-tls-key", "", "peer URLs' private key (default --tls-key)")
	f.StringVar(&peerCA, "peer-tls-ca", "", "CA bundle verifying the other members (default --tls-ca)")
	return cmd
}

// splitAddrList splits a comma-separated flag value, dropping empty items.
func splitAddrList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
