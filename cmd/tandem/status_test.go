package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/arbiter"
)

func TestStatusUnknownGroupFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mcfg := arbiter.DefaultMemberConfig("a1", t.TempDir())
	mcfg.ListenClientURLs = []string{"http://127.0.0.1:0"}
	mcfg.ListenPeerURLs = []string{"http://127.0.0.1:0"}
	mcfg.InitialCluster = ""
	mcfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := arbiter.StartMember(ctx, mcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var out bytes.Buffer
	err = runStatus(ctx, &out, nil, m.ClientEndpoints(), "nope", false)
	if err == nil || !strings.Contains(err.Error(), `no group "nope"`) {
		t.Fatalf("status of an unknown group: err %v, out %q", err, out.String())
	}
	out.Reset()
	if err := runStatus(ctx, &out, nil, m.ClientEndpoints(), "", false); err != nil || !strings.Contains(out.String(), "no groups") {
		t.Fatalf("status of an empty arbiter: %v %q", err, out.String())
	}
}
