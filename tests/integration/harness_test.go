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
	build := exec.Command("go", "build", "-tags", "failpoints", "-o", tandemBin, "github.com/tandem-db/tandem/cmd/tandem")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tandem:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one running tandem process whose stderr lines are recorded and
// can be awaited.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	exited chan struct{}

	mu    sync.Mutex
	cond  *sync.Cond
	lines []string
	at    []time.Time // when each line was read
}

// startProc starts tandem with args and waits (up to 60 s) for a stderr line
// matching ready; it returns the submatches of that line.
func startProc(t *testing.T, name string, ready *regexp.Regexp, args ...string) (*proc, []string) {
	t.Helper()
	p := newProc(t, name, args...)
	m, _, _, err := p.WaitLine(ready, 0, 60*time.Second)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, p.Logs())
	}
	return p, m
}

// newProc starts tandem with args without waiting for anything.
func newProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return runProc(t, name, exec.Command(tandemBin, args...))
}

// runProc starts cmd, recording its stderr lines; it is killed at cleanup.
func runProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, cmd: cmd, exited: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.at = append(p.at, time.Now())
			p.cond.Broadcast()
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		// Read everything first: Wait closes the pipe, and lines still
		// buffered in it would be lost (os/exec: do not call Wait before
		// all reads from the pipe have completed).
		<-readDone
		cmd.Wait()
		close(p.exited)
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, p.Logs())
		}
	})
	return p
}

// WaitLine waits until a line at index >= from matches re; it returns the
// submatches, the line's index and when it was read.
func (p *proc) WaitLine(re *regexp.Regexp, from int, timeout time.Duration) ([]string, int, time.Time, error) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := from; ; {
		for ; i < len(p.lines); i++ {
			if m := re.FindStringSubmatch(p.lines[i]); m != nil {
				return m, i, p.at[i], nil
			}
		}
		select {
		case <-p.exited:
			return nil, 0, time.Time{}, fmt.Errorf("process exited while waiting for %q", re)
		default:
		}
		if !time.Now().Before(deadline) {
			return nil, 0, time.Time{}, fmt.Errorf("no line matching %q within %v", re, timeout)
		}
		p.cond.Wait()
	}
}

// NumLines is the number of lines read so far.
func (p *proc) NumLines() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// Logs returns everything the process wrote to stderr.
func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *proc) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *proc) Stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.t.Errorf("%s did not stop on SIGTERM within 30s", p.name)
		p.Kill()
	}
}

// node is a running `tandem standalone`.
type node struct {
	*proc
	dir      string
	Addr     string // client address (gRPC + REST)
	HTTPAddr string
}

var listenRe = regexp.MustCompile(`tandem standalone serving" listen=(\S+) http=(\S+)`)

// startNode starts `tandem standalone` on loopback with ephemeral ports and
// waits for the line that announces the bound addresses.
func startNode(t *testing.T, dataDir string, extra ...string) *node {
	t.Helper()
	args := append([]string{"standalone", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, extra...)
	p, m := startProc(t, "standalone", listenRe, args...)
	return &node{proc: p, dir: dataDir, Addr: m[1], HTTPAddr: m[2]}
}

func (n *node) dataDir() string { return n.dir }

func (n *node) client(t *testing.T) *milvusclient.Client { return dialClient(t, n.Addr) }

func dialClient(t *testing.T, addr string) *milvusclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: addr})
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}
