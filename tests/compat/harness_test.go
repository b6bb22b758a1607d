// Package compat is Tandem's Milvus 2.6 compatibility suite: one test per
// capability, written from the Milvus documentation with the official Go
// SDK (milvusclient v2.6.2), including each documented refusal and its
// message.
//
// Every test runs twice, as the subtests "standalone" and "ha":
//
//   - standalone: one `tandem standalone` process;
//   - ha: a three-node HA group (sync mode) with an embedded arbiter,
//     reached through `tandem proxy`.
//
// The two targets are started once per package run (lazily, by the first
// test that needs them) and shared by all tests, so each test names its
// collections with Env.Coll. In the middle of a test, after its writes,
// Env.Disrupt restarts the standalone node (SIGKILL, same data dir and
// port) or fails the HA group over (SIGKILL of the active; the proxy
// follows the new one; the killed node is restarted and awaited back in the
// sync set), and the test then checks that it sees the same results.
//
// TANDEM_COMPAT_TARGETS=standalone (or ha) runs one target only, for quick
// local runs; CI runs both.
package compat

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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"

	"github.com/tandem-db/tandem/internal/localgroup"
)

var (
	tandemBin string
	workDir   string

	standaloneOnce sync.Once
	standaloneT    *standaloneTarget
	standaloneErr  error

	haOnce sync.Once
	haT    *haTarget
	haErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	tandemBin = filepath.Join(dir, "tandem")
	build := exec.Command("go", "build", "-tags", "failpoints", "-o", tandemBin, "github.com/tandem-db/tandem/cmd/tandem")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tandem:", err)
		os.Exit(1)
	}
	code := m.Run()
	if standaloneT != nil {
		standaloneT.close()
	}
	if haT != nil {
		haT.cluster.Close()
	}
	if code == 0 {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "compat: processes' logs kept in %s\n", dir)
	}
	os.Exit(code)
}

// Env is what a capability test gets for one target.
type Env struct {
	// Name is "standalone" or "ha".
	Name string
	// C is a client of the target (through the proxy for "ha"), closed at
	// the end of the test.
	C *milvusclient.Client
	// Ctx bounds the test (5 minutes).
	Ctx context.Context
	// Addr is the target's gRPC (and REST) address.
	Addr string

	disrupt func(t *testing.T)
}

// Disrupt restarts the standalone node or fails the HA group over, and
// returns once the target serves again through e.C.
func (e *Env) Disrupt(t *testing.T) {
	t.Helper()
	e.disrupt(t)
	awaitServing(t, e)
}

var collSeq atomic.Int64

var nonWord = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// Coll returns a new collection name, unique in the package run, derived
// from the test's name.
func (e *Env) Coll(t *testing.T) string {
	n := nonWord.ReplaceAllString(t.Name(), "_")
	if len(n) > 200 {
		n = n[len(n)-200:]
	}
	return fmt.Sprintf("c%d_%s", collSeq.Add(1), strings.Trim(n, "_"))
}

// both runs f against every target, as the subtests "standalone" and "ha".
func both(t *testing.T, f func(t *testing.T, e *Env)) {
	t.Helper()
	targets := []string{"standalone", "ha"}
	if only := os.Getenv("TANDEM_COMPAT_TARGETS"); only != "" {
		targets = strings.Split(only, ",")
	}
	for _, name := range targets {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, name)
			f(t, e)
		})
	}
}

func newEnv(t *testing.T, name string) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	e := &Env{Name: name, Ctx: ctx}
	switch name {
	case "standalone":
		standaloneOnce.Do(func() { standaloneT, standaloneErr = startStandalone() })
		if standaloneErr != nil {
			t.Fatalf("start standalone: %v", standaloneErr)
		}
		e.Addr = standaloneT.addr
		e.disrupt = standaloneT.restart
	case "ha":
		haOnce.Do(func() { haT, haErr = startHA() })
		if haErr != nil {
			t.Fatalf("start HA group: %v", haErr)
		}
		e.Addr = haT.cluster.Proxies[0].Addr
		e.disrupt = haT.failover
	default:
		t.Fatalf("unknown compat target %q (TANDEM_COMPAT_TARGETS: standalone, ha)", name)
	}
	c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: e.Addr})
	if err != nil {
		t.Fatalf("connect %s: %v", e.Addr, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	e.C = c
	return e
}

// awaitServing waits until a list call through e.C succeeds.
func awaitServing(t *testing.T, e *Env) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(e.Ctx, 5*time.Second)
		_, err := e.C.ListCollections(ctx, milvusclient.NewListCollectionOption())
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not serve again after the disruption: %v", e.Name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// standaloneTarget is one `tandem standalone` process on a fixed address.
type standaloneTarget struct {
	dir, addr string
	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	log       *os.File
}

var standaloneReady = regexp.MustCompile(`tandem standalone serving" listen=(\S+) http=(\S+)`)

func startStandalone() (*standaloneTarget, error) {
	s := &standaloneTarget{dir: filepath.Join(workDir, "standalone")}
	log, err := os.Create(filepath.Join(workDir, "standalone.log"))
	if err != nil {
		return nil, err
	}
	s.log = log
	if err := s.launch("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return s, nil
}

// launch starts the process on listen and waits for its ready line.
func (s *standaloneTarget) launch(listen string) error {
	cmd := exec.Command(tandemBin, "standalone", "--data-dir", s.dir, "--listen", listen, "--http-listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.log, line)
			if m := standaloneReady.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(exited)
	}()
	select {
	case addr := <-ready:
		s.mu.Lock()
		s.cmd, s.exited, s.addr = cmd, exited, addr
		s.mu.Unlock()
		return nil
	case <-exited:
		return fmt.Errorf("tandem standalone exited before serving (log: %s)", s.log.Name())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return fmt.Errorf("tandem standalone not serving within 60s (log: %s)", s.log.Name())
	}
}

func (s *standaloneTarget) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// restart SIGKILLs the node and starts it again on the same data dir and
// address (a crash and recovery: the WAL is replayed).
func (s *standaloneTarget) restart(t *testing.T) {
	t.Helper()
	s.kill()
	var err error
	for i := 0; i < 20; i++ { // the port may linger a moment
		if err = s.launch(s.addr); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("restart standalone: %v", err)
}

func (s *standaloneTarget) close() {
	s.kill()
	s.log.Close()
}

// haTarget is a three-node sync-mode group with one arbiter and one proxy.
type haTarget struct {
	cluster *localgroup.Cluster
	mu      sync.Mutex // serialises failovers
}

func startHA() (*haTarget, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localgroup.Start(ctx, localgroup.Options{
		Binary:  tandemBin,
		Dir:     filepath.Join(workDir, "ha"),
		KeepDir: true,
		Group:   "compat",
		Nodes:   3,
		Proxies: 1,
	})
	if err != nil {
		return nil, err
	}
	if _, err := c.AwaitStatus(ctx, "a settled group", localgroup.Settled(3, 1)); err != nil {
		c.Close()
		return nil, err
	}
	return &haTarget{cluster: c}, nil
}

// failover SIGKILLs the active, waits for a new active at a higher epoch,
// restarts the killed node and waits until the group is settled again
// (all three live, all in the sync set), so the next failover is as safe
// as the first.
func (h *haTarget) failover(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := h.cluster
	st, err := c.AwaitStatus(ctx, "a settled group before the failover", localgroup.Settled(3, 1))
	if err != nil {
		t.Fatal(err)
	}
	old := c.Leader(st)
	old.Kill()
	st2, err := c.AwaitStatus(ctx, "a new active after killing "+old.ID, localgroup.OneActive(st.Epoch+1))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ha: killed the active %s (epoch %d); %s is active at epoch %d", old.ID, st.Epoch, st2.Leader, st2.Epoch)
	if err := old.Restart(ctx); err != nil {
		t.Fatalf("restart %s: %v", old.ID, err)
	}
	if _, err := c.AwaitStatus(ctx, "the group settled after the failover", localgroup.Settled(3, st2.Epoch)); err != nil {
		t.Fatal(err)
	}
}
