// Package integration starts the real tandem binary and drives it with the
// official Milvus Go SDK.
package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

var tandemBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tandemBin = filepath.Join(dir, "tandem")
	build := exec.Command("go", "build", "-o", tandemBin, "github.com/tandem-db/tandem/cmd/tandem")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tandem:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one running tandem process.
type node struct {
	t        *testing.T
	cmd      *exec.Cmd
	dir      string
	Addr     string // client address (gRPC + REST)
	HTTPAddr string
	exited   chan struct{}
	mu       sync.Mutex
	logs     strings.Builder
}

var (
	listenRe = regexp.MustCompile(`tandem standalone serving" listen=(\S+) http=(\S+)`)
)

// startNode starts `tandem standalone` on loopback with ephemeral ports and
// waits for the line that announces the bound addresses.
func startNode(t *testing.T, dataDir string, extra ...string) *node {
	t.Helper()
	args := append([]string{"standalone", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(tandemBin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cmd: cmd, dir: dataDir, exited: make(chan struct{})}
	ready := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.logs.WriteString(line + "\n")
			n.mu.Unlock()
			if m := listenRe.FindStringSubmatch(line); m != nil {
				select {
				case ready <- [2]string{m[1], m[2]}:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { cmd.Wait(); close(n.exited) }()
	select {
	case a := <-ready:
		n.Addr, n.HTTPAddr = a[0], a[1]
	case <-n.exited:
		t.Fatalf("tandem exited before serving:\n%s", n.Logs())
	case <-time.After(60 * time.Second):
		n.Kill()
		t.Fatalf("tandem did not start within 60s:\n%s", n.Logs())
	}
	t.Cleanup(func() {
		n.Kill()
		if t.Failed() {
			t.Logf("node logs:\n%s", n.Logs())
		}
	})
	return n
}

func (n *node) Logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.String()
}

// Kill sends SIGKILL and waits for the process to exit.
func (n *node) Kill() {
	select {
	case <-n.exited:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// Stop sends SIGTERM and waits for a clean exit.
func (n *node) Stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		n.t.Errorf("tandem did not stop on SIGTERM within 30s")
		n.Kill()
	}
}

func (n *node) client(t *testing.T) *milvusclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: n.Addr})
	if err != nil {
		t.Fatalf("connect %s: %v", n.Addr, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func (n *node) dataDir() string { return n.dir }
