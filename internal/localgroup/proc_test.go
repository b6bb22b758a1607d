package localgroup

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the child processes of these tests:
// LOCALGROUP_HELPER=child prints a ready line and waits for SIGTERM;
// LOCALGROUP_HELPER=parent starts a child through startProc and waits.
func TestMain(m *testing.M) {
	switch os.Getenv("LOCALGROUP_HELPER") {
	case "child":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		fmt.Fprintf(os.Stderr, "time=%s level=INFO msg=\"helper ready\" pid=%d\n", time.Now().Format(time.RFC3339Nano), os.Getpid())
		fmt.Fprintln(os.Stderr, "not logfmt at all")
		<-sig
		fmt.Fprintln(os.Stderr, `level=INFO msg="helper stopping"`)
		os.Exit(0)
	case "parent":
		p, err := startProc("child", os.Args[0], nil, helperEnv("child"), "")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, _, _, err := p.WaitLine(ctx, regexp.MustCompile(`helper ready`), 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "msg=\"parent ready\" child=%d\n", p.Pid())
		select {}
	}
	os.Exit(m.Run())
}

func helperEnv(role string) []string {
	return append(os.Environ(), "LOCALGROUP_HELPER="+role)
}

func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

func awaitState(t *testing.T, pid int, want func(string) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !want(procState(pid)) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: %s: state %q", pid, what, procState(pid))
		}
		time.Sleep(10 * time.Millisecond) // polling the kernel's view of the process
	}
}

func TestProcLifecycle(t *testing.T) {
	log := t.TempDir() + "/child.log"
	p, err := startProc("child", os.Args[0], nil, helperEnv("child"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, m, i, err := p.WaitLine(ctx, regexp.MustCompile(`msg="helper ready" pid=(\d+)`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != strconv.Itoa(p.Pid()) || i != 0 || l.Logged.After(l.Read) || l.Read.Sub(l.Logged) > 5*time.Second {
		t.Fatalf("ready line %q (index %d, logged %v, read %v), pid %d", l.Text, i, l.Logged, l.Read, p.Pid())
	}
	if _, _, _, err := p.WaitLine(ctx, regexp.MustCompile(`not logfmt`), 1); err != nil {
		t.Fatal(err)
	}
	// Children lead their own process group.
	if pgid, err := syscall.Getpgid(p.Pid()); err != nil || pgid != p.Pid() {
		t.Fatalf("pgid %d (%v), want %d", pgid, err, p.Pid())
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	awaitState(t, p.Pid(), func(s string) bool { return s == "T" || s == "t" }, "stopped after SIGSTOP")
	if err := p.Cont(); err != nil {
		t.Fatal(err)
	}
	awaitState(t, p.Pid(), func(s string) bool { return s == "S" || s == "R" }, "running after SIGCONT")
	// A short wait for a line that never comes.
	sctx, scancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, _, _, err := p.WaitLine(sctx, regexp.MustCompile(`never`), 0); err == nil {
		t.Fatal("WaitLine found a line that was never written")
	}
	scancel()
	if !p.Terminate(10 * time.Second) {
		t.Fatal("the helper did not exit on SIGTERM")
	}
	if p.Running() || p.ExitErr() != nil {
		t.Fatalf("after SIGTERM: running %v, exit %v", p.Running(), p.ExitErr())
	}
	if _, _, _, ok := p.FindLine(regexp.MustCompile(`helper stopping`), 0); !ok {
		t.Fatalf("last line missing; lines:\n%s", p.Logs(0))
	}
	if _, _, _, err := p.WaitLine(ctx, regexp.MustCompile(`never`), 0); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("WaitLine on an exited process: %v", err)
	}
	if err := p.Stop(); err == nil {
		t.Fatal("SIGSTOP to an exited process succeeded")
	}
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "helper ready") || !strings.Contains(string(b), "exited: status 0") {
		t.Fatalf("log file:\n%s", b)
	}

	// SIGKILL.
	q, err := startProc("child2", os.Args[0], nil, helperEnv("child"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := q.WaitLine(ctx, regexp.MustCompile(`helper ready`), 0); err != nil {
		t.Fatal(err)
	}
	q.Stop() // a stopped process dies from SIGKILL too
	q.Kill()
	if q.Running() || q.ExitErr() == nil || !strings.Contains(q.ExitErr().Error(), "killed") {
		t.Fatalf("after SIGKILL: running %v, exit %v", q.Running(), q.ExitErr())
	}
	q.Kill() // idempotent
}

// TestNoOrphans: when the parent dies by SIGKILL (no cleanup code runs),
// the kernel kills its children (Pdeathsig).
func TestNoOrphans(t *testing.T) {
	parent, err := startProc("parent", os.Args[0], nil, helperEnv("parent"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, m, _, err := parent.WaitLine(ctx, regexp.MustCompile(`parent ready" child=(\d+)`), 0)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(m[1])
	if s := procState(child); s == "" || s == "Z" {
		t.Fatalf("child %d not running: %q", child, s)
	}
	parent.Kill()
	// Gone, or a zombie waiting for init to reap it.
	awaitState(t, child, func(s string) bool { return s == "" || s == "Z" }, "killed with its parent")
}

func TestFreePorts(t *testing.T) {
	a, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range append(a, b...) {
		if seen[p] || p <= 0 {
			t.Fatalf("port %d twice or invalid: %v %v", p, a, b)
		}
		seen[p] = true
	}
}
