package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/node"
	"github.com/tandem-db/tandem/internal/server"
	"github.com/tandem-db/tandem/internal/version"
)

func newStandaloneCmd() *cobra.Command {
	var (
		listen, httpListen string
		st                 *storageFlags
		lf                 *logFlags
		clientSec          func(*node.Config) error
	)
	cmd := &cobra.Command{
		Use:   "standalone",
		Short: "Run one node with zero setup (Milvus gRPC + REST on --listen, health and metrics on --http-listen)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := lf.logger()
			if err != nil {
				return err
			}
			ecfg, err := st.engineConfig(logger)
			if err != nil {
				return err
			}
			var sec node.Config // the client-side security settings only
			if err := clientSec(&sec); err != nil {
				return err
			}
			sa, err := server.Start(server.Config{Engine: ecfg, Listen: listen, HTTPListen: httpListen, Logger: logger,
				ClientTLS: sec.ClientTLS, Auth: sec.Auth, RequestTimeout: sec.RequestTimeout})
			if err != nil {
				return err
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			select {
			case s := <-sig:
				logger.Info("shutting down", "signal", s.String())
			case <-sa.Done():
				logger.Error("API server stopped unexpectedly")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return sa.Close(ctx)
		},
	}
	f := cmd.Flags()
	st = addStorageFlags(f, false)
	f.StringVar(&listen, "listen", node.DefaultListen, "client address: Milvus gRPC and RESTful v2 API")
	f.StringVar(&httpListen, "http-listen", node.DefaultHTTPListen, "HTTP address for /healthz, /readyz, /metrics, /status (\"off\" disables; loopback by default: bind it privately)")
	clientSec = clientSecurityFlags(f)
	lf = addLogFlags(f)
	return cmd
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version and build information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in := version.Get()
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(in)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, "tandem", in.Version)
			fmt.Fprintln(w, "commit:  ", orUnknown(in.Commit)+map[bool]string{true: " (modified work tree)"}[in.Modified])
			fmt.Fprintln(w, "built:   ", orUnknown(in.Date))
			fmt.Fprintln(w, "go:      ", in.GoVersion)
			fmt.Fprintln(w, "platform:", in.Platform)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
