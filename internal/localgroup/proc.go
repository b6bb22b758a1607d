package localgroup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Line is one line a child process wrote to stderr.
type Line struct {
	Text string
	// Read is when the parent read the line.
	Read time.Time
	// Logged is the line's own time= field (slog text format), or Read
	// when it has none.
	Logged time.Time
}

// Proc is one child process. Its stderr lines are kept in memory (and
// appended to a log file) and can be awaited.
type Proc struct {
	Name    string
	LogPath string // file the child's stdout and stderr are appended to ("" for none)

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's result, set before exited closes

	mu    sync.Mutex
	lines []Line
	wake  chan struct{} // closed and replaced when a line arrives or the process exits
}

// spawnReq asks the spawner thread to start a command.
type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

var (
	spawnOnce sync.Once
	spawnc    chan spawnReq
)

// spawn starts cmd from one OS thread that lives as long as this process:
// Pdeathsig fires when the thread that forked the child exits, not the
// process, so a child started from a short-lived thread could be killed
// early. Go only retires threads locked by a goroutine that exits, which
// the spawner never does.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnc = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread is never retired
			for r := range spawnc {
				r.errc <- r.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnc <- spawnReq{cmd, errc}
	return <-errc
}

// startProc starts bin with args as a child that dies with this process
// (SIGKILL by Pdeathsig) and sits in its own process group (a Ctrl-C at
// the terminal reaches only the parent, which then cleans up).
func startProc(name, bin string, args []string, env []string, logPath string) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var logFile *os.File
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("localgroup: %s: %w", name, err)
		}
		fmt.Fprintf(f, "### %s: %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
		logFile = f
		cmd.Stdout = f
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, err
	}
	if err := spawn(cmd); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, fmt.Errorf("localgroup: start %s: %w", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, exited: make(chan struct{}), wake: make(chan struct{})}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			now := time.Now()
			text := sc.Text()
			if logFile != nil {
				logFile.WriteString(text + "\n")
			}
			logged := now
			if t, ok := LogTime(text); ok {
				logged = t
			}
			p.mu.Lock()
			p.lines = append(p.lines, Line{Text: text, Read: now, Logged: logged})
			close(p.wake)
			p.wake = make(chan struct{})
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-readDone // Wait closes the pipe: read it to the end first
		err := cmd.Wait()
		if logFile != nil {
			fmt.Fprintf(logFile, "### %s: exited: %v\n", time.Now().Format(time.RFC3339Nano), exitString(err))
			logFile.Close()
		}
		p.mu.Lock()
		p.err = err
		close(p.exited)
		close(p.wake)
		p.wake = make(chan struct{})
		p.mu.Unlock()
	}()
	return p, nil
}

func exitString(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited and been reaped.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// ExitErr is the process's exit status (nil for status 0); only
// meaningful once Exited is closed.
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Signal sends sig to the process (not its group) unless it has exited.
func (p *Proc) Signal(sig syscall.Signal) error {
	if !p.Running() {
		return fmt.Errorf("localgroup: %s has exited", p.Name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("localgroup: signal %v to %s: %w", sig, p.Name, err)
	}
	return nil
}

// Kill sends SIGKILL and waits until the process is reaped. Killing an
// exited process is a no-op.
func (p *Proc) Kill() {
	if p.Running() {
		// SIGKILL the whole process group: the child leads it (Setpgid).
		syscall.Kill(-p.Pid(), syscall.SIGKILL)
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.exited
}

// Stop sends SIGSTOP: the process freezes (its leases stop being renewed).
func (p *Proc) Stop() error { return p.Signal(syscall.SIGSTOP) }

// Cont sends SIGCONT to a stopped process.
func (p *Proc) Cont() error { return p.Signal(syscall.SIGCONT) }

// Terminate sends SIGTERM and waits up to timeout for the exit, then
// SIGKILLs. It reports whether the process exited by itself.
func (p *Proc) Terminate(timeout time.Duration) bool {
	if !p.Running() {
		return true
	}
	p.cmd.Process.Signal(syscall.SIGCONT) // a stopped process cannot handle SIGTERM
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return true
	case <-time.After(timeout):
		p.Kill()
		return false
	}
}

// NumLines is the number of stderr lines read so far: a mark for
// WaitLine and FindLine.
func (p *Proc) NumLines() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// Lines returns a copy of the lines from index from on.
func (p *Proc) Lines(from int) []Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	if from >= len(p.lines) {
		return nil
	}
	return append([]Line(nil), p.lines[max(from, 0):]...)
}

// Logs returns the last n lines (all when n <= 0) as one string.
func (p *Proc) Logs(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := p.lines
	if n > 0 && len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// FindLine returns the first line at index >= from matching re, without
// waiting.
func (p *Proc) FindLine(re *regexp.Regexp, from int) (Line, []string, int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := max(from, 0); i < len(p.lines); i++ {
		if m := re.FindStringSubmatch(p.lines[i].Text); m != nil {
			return p.lines[i], m, i, true
		}
	}
	return Line{}, nil, 0, false
}

// WaitLine waits until a line at index >= from matches re and returns
// it, its submatches and its index. It fails when ctx ends or the process
// exits first.
func (p *Proc) WaitLine(ctx context.Context, re *regexp.Regexp, from int) (Line, []string, int, error) {
	i := max(from, 0)
	for {
		p.mu.Lock()
		for ; i < len(p.lines); i++ {
			if m := re.FindStringSubmatch(p.lines[i].Text); m != nil {
				l := p.lines[i]
				p.mu.Unlock()
				return l, m, i, nil
			}
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-p.exited:
			// The reader finished before exited closed: every line is in.
			if l, m, j, ok := p.FindLine(re, i); ok {
				return l, m, j, nil
			}
			return Line{}, nil, 0, fmt.Errorf("localgroup: %s exited (%s) while waiting for %q; last lines:\n%s",
				p.Name, exitString(p.ExitErr()), re, p.Logs(15))
		case <-ctx.Done():
			return Line{}, nil, 0, fmt.Errorf("localgroup: %s: waiting for %q: %w", p.Name, re, context.Cause(ctx))
		case <-wake:
		}
	}
}

// portPool hands out free loopback ports, never the same one twice in
// this process.
type portPool struct {
	mu   sync.Mutex
	used map[int]bool
}

var ports = &portPool{used: map[int]bool{}}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago (bound and released), none handed out before by this process.
func FreePorts(n int) ([]int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for attempts := 0; len(out) < n; attempts++ {
		if attempts > 100*n {
			return nil, errors.New("localgroup: no free ports")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("localgroup: pick a free port: %w", err)
		}
		ls = append(ls, l)
		p := l.Addr().(*net.TCPAddr).Port
		if ports.used[p] {
			continue
		}
		ports.used[p] = true
		out = append(out, p)
	}
	return out, nil
}

func loopback(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
