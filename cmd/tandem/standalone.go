package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/internal/engine"
	"github.com/tandem-db/tandem/internal/server"
)

func newStandaloneCmd() *cobra.Command {
	var (
		dataDir, listen, httpListen, syncMode, logLevel string
		minFreeDisk                                     string
		syncInterval                                    time.Duration
		segmentRows                                     int
	)
	cmd := &cobra.Command{
		Use:   "standalone",
		Short: "Run one node with zero setup (Milvus gRPC + REST on --listen, health and metrics on --http-listen)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			ecfg := engine.Config{DataDir: dataDir, SegmentMaxRows: segmentRows, SyncInterval: syncInterval}
			if ecfg.MinFreeDiskBytes, err = parseMinFreeDisk(minFreeDisk); err != nil {
				return err
			}
			switch syncMode {
			case "fsync":
				ecfg.Sync = engine.SyncFsync
			case "interval":
				ecfg.Sync = engine.SyncInterval
			default:
				return fmt.Errorf("--sync = %q: must be fsync or interval", syncMode)
			}
			node, err := server.Start(server.Config{Engine: ecfg, Listen: listen, HTTPListen: httpListen, Logger: logger})
			if err != nil {
				return err
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			select {
			case s := <-sig:
				logger.Info("shutting down", "signal", s.String())
			case <-node.Done():
				logger.Error("API server stopped unexpectedly")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return node.Close(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "./tandem-data", "directory for the WAL, segments and manifest")
	f.StringVar(&listen, "listen", ":19530", "client address: Milvus gRPC and RESTful v2 API")
	f.StringVar(&httpListen, "http-listen", ":9091", "HTTP address for /healthz, /metrics, /status (\"off\" disables)")
	f.StringVar(&syncMode, "sync", "fsync", "WAL durability: fsync (acknowledge after fsync) or interval (fsync every --sync-interval)")
	f.DurationVar(&syncInterval, "sync-interval", 100*time.Millisecond, "fsync period in --sync=interval mode")
	f.IntVar(&segmentRows, "segment-rows", 65536, "rows after which a growing segment is sealed")
	f.StringVar(&minFreeDisk, "min-free-disk", "256MiB", minFreeDiskHelp)
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level = %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(cmd *cobra.Command, args []string) { fmt.Println("tandem", server.Version) },
	}
}
