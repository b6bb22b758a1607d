// Package newcomer walks through the README as a newcomer would, on this
// machine: the README's code blocks marked `<!-- newcomer: ... -->` are run
// verbatim (shell blocks with bash, `tandem` on PATH, in a fresh directory)
// or compared with the file they show, and the result is checked with the
// official Go SDK (examples/quickstart). A README example that no longer
// runs as written fails CI.
package newcomer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	repo       string // the repository's root
	binDir     string // holds tandem and quickstart
	readmeText string
)

func TestMain(m *testing.M) {
	wd, _ := os.Getwd()
	repo = filepath.Clean(filepath.Join(wd, "..", ".."))
	b, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	readmeText = string(b)
	dir, err := os.MkdirTemp("", "tandem-newcomer-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, b := range [][2]string{{"tandem", "./cmd/tandem"}, {"quickstart", "./examples/quickstart"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b[0]), b[1])
		cmd.Dir, cmd.Stdout, cmd.Stderr = repo, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", b[1], err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// block returns the fenced code block that follows the marker
// `<!-- newcomer: KIND NAME -->` in the README.
func block(t *testing.T, kind, name string) string {
	t.Helper()
	marker := fmt.Sprintf("<!-- newcomer: %s %s -->", kind, name)
	i := strings.Index(readmeText, marker)
	if i < 0 {
		t.Fatalf("README has no %q marker", marker)
	}
	rest := readmeText[i+len(marker):]
	open := strings.Index(rest, "```")
	if open < 0 {
		t.Fatalf("no code block after %q", marker)
	}
	rest = rest[open:]
	nl := strings.IndexByte(rest, '\n')
	body := rest[nl+1:]
	end := strings.Index(body, "```")
	if end < 0 {
		t.Fatalf("unclosed code block after %q", marker)
	}
	return body[:end]
}

// shell runs script with bash in dir, in its own process group, with tandem
// on PATH; background jobs it starts keep running until the returned stop
// kills the whole group.
func shell(t *testing.T, dir, script string) (stop func(), logs *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop = func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	t.Cleanup(stop)
	return stop, logs
}

// await runs check until it succeeds or timeout passes.
func await(t *testing.T, timeout time.Duration, what string, logs *bytes.Buffer, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v\nlogs:\n%s", what, timeout, err, tail(logs.String(), 4000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func run(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// activeOf reads `tandem status --json` and returns the active's node id.
func activeOf(t *testing.T, dir string, args ...string) (string, error) {
	out, err := run(t, dir, "tandem", append([]string{"status", "--json", "--timeout", "3s"}, args...)...)
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	var st struct {
		Leader  string `json:"leader"`
		Members []struct {
			NodeID string `json:"node_id"`
			Role   string `json:"role"`
		} `json:"members"`
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if json.Unmarshal(sc.Bytes(), &st) == nil && st.Leader != "" {
			for _, m := range st.Members {
				if m.NodeID == st.Leader && m.Role == "active" {
					return st.Leader, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no active yet: %s", out)
}

var hitRe = regexp.MustCompile(`(?m)^hit: id \d+, score [0-9.]+, title "tandem"$`)

// quickstart runs the README's Go example against addr and checks its output.
func quickstart(t *testing.T, addr string) error {
	out, err := run(t, t.TempDir(), "quickstart", "-addr", addr)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	if !strings.Contains(out, "inserted id:") || !hitRe.MatchString(out) {
		return fmt.Errorf("unexpected output:\n%s", out)
	}
	return nil
}

// The README's Go example is examples/quickstart/main.go, byte for byte,
// and runs against `tandem standalone`.
func TestReadmeGoExample(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(repo, "examples", "quickstart", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if got := block(t, "go", "examples/quickstart/main.go"); got != string(want) {
		t.Fatalf("the README's Go example differs from examples/quickstart/main.go: copy the file into the README")
	}
	dir := t.TempDir()
	_, logs := shell(t, dir, "tandem standalone --data-dir data --listen 127.0.0.1:29530 --http-listen 127.0.0.1:29531")
	await(t, 60*time.Second, "quickstart against tandem standalone", logs, func() error { return quickstart(t, "127.0.0.1:29530") })
}

// The README's HA example, verbatim: 3 arbiter members, 3 nodes, a proxy;
// one active appears and the Go example works through the proxy.
func TestReadmeHAExample(t *testing.T) {
	dir := t.TempDir()
	_, logs := shell(t, dir, block(t, "sh", "ha")+"\nwait\n")
	arb := "127.0.0.1:2379,127.0.0.1:2381,127.0.0.1:2383"
	await(t, 90*time.Second, "an active in group g1", logs, func() error {
		_, err := activeOf(t, dir, "--arbiter", arb, "--group", "g1")
		return err
	})
	await(t, 60*time.Second, "quickstart through the proxy", logs, func() error { return quickstart(t, "127.0.0.1:19530") })
}

// The README's secure example, verbatim: certificates, a TLS arbiter, two
// authenticated TLS nodes, a TLS proxy, and `tandem status` over TLS.
func TestReadmeSecureExample(t *testing.T) {
	dir := t.TempDir()
	_, logs := shell(t, dir, block(t, "sh", "secure")+"\nwait\n")
	await(t, 90*time.Second, "an active in group g (status over TLS)", logs, func() error {
		_, err := activeOf(t, dir, "--arbiter", "https://127.0.0.1:2379", "--group", "g",
			"--arbiter-tls-cert", "certs/client.crt", "--arbiter-tls-key", "certs/client.key", "--arbiter-tls-ca", "certs/ca.crt")
		return err
	})
	// Plain HTTP on the TLS proxy port is answered in words.
	out, _ := exec.Command("curl", "-s", "-XPOST", "http://127.0.0.1:19530/v2/vectordb/collections/list", "-d", "{}").CombinedOutput()
	if len(out) > 0 && !strings.Contains(string(out), "serves TLS") {
		t.Errorf("plain HTTP on the TLS proxy port: %q", out)
	}
}

// The README's cluster example, verbatim: an arbiter, two coordinators,
// two groups of three nodes, a cluster proxy; the root role has an active
// and the Go example works through the cluster proxy.
func TestReadmeClusterExample(t *testing.T) {
	dir := t.TempDir()
	_, logs := shell(t, dir, block(t, "sh", "cluster")+"\nwait\n")
	await(t, 90*time.Second, "a root coordinator in cluster c1", logs, func() error {
		out, err := run(t, dir, "tandem", "status", "--arbiter", "127.0.0.1:2479", "--cluster", "c1", "--json", "--timeout", "3s")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		var st struct {
			Roles []struct {
				Role, Active string
			} `json:"roles"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return err
		}
		for _, r := range st.Roles {
			if r.Role == "root" && r.Active != "" {
				return nil
			}
		}
		return fmt.Errorf("no root active: %s", out)
	})
	for _, g := range []string{"g1", "g2"} {
		await(t, 90*time.Second, "an active in group "+g, logs, func() error {
			_, err := activeOf(t, dir, "--arbiter", "127.0.0.1:2479", "--group", g)
			return err
		})
	}
	await(t, 60*time.Second, "quickstart through the cluster proxy", logs, func() error { return quickstart(t, "127.0.0.1:19530") })
}
