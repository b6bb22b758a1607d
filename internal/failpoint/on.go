//go:build failpoints

package failpoint

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Enabled reports whether failpoints are compiled in (build tag failpoints).
const Enabled = true

type point struct {
	action string        // error, panic, sleep, pause
	arg    string        // error text or sleep duration text
	sleep  time.Duration // for sleep
	left   int           // remaining firings; <0 = unlimited
	hits   int
	resume chan struct{} // closed when a paused point is disarmed or re-armed
}

var (
	mu      sync.Mutex
	points  = map[string]*point{} // armed points. Guarded by mu.
	hits    = map[string]int{}    // firings per name, kept after disarming. Guarded by mu.
	changed = make(chan struct{}) // closed and replaced on every firing. Guarded by mu.
)

func init() {
	for _, kv := range strings.Split(os.Getenv("TANDEM_FAILPOINTS"), ";") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		name, spec, ok := strings.Cut(kv, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "failpoint: TANDEM_FAILPOINTS: %q is not name=spec\n", kv)
			os.Exit(2)
		}
		if err := Enable(strings.TrimSpace(name), strings.TrimSpace(spec)); err != nil {
			fmt.Fprintf(os.Stderr, "failpoint: TANDEM_FAILPOINTS: %v\n", err)
			os.Exit(2)
		}
	}
}

func parse(spec string) (*point, error) {
	p := &point{left: -1}
	if n, rest, ok := strings.Cut(spec, "*"); ok {
		c, err := strconv.Atoi(n)
		if err != nil || c <= 0 {
			return nil, fmt.Errorf("failpoint: bad count %q in %q", n, spec)
		}
		p.left, spec = c, rest
	}
	p.action = spec
	if i := strings.IndexByte(spec, '('); i >= 0 {
		if !strings.HasSuffix(spec, ")") {
			return nil, fmt.Errorf("failpoint: unclosed argument in %q", spec)
		}
		p.action, p.arg = spec[:i], spec[i+1:len(spec)-1]
	}
	switch p.action {
	case "error", "panic", "pause", "off":
	case "sleep":
		d, err := time.ParseDuration(p.arg)
		if err != nil {
			return nil, fmt.Errorf("failpoint: sleep(%s): %w", p.arg, err)
		}
		p.sleep = d
	default:
		return nil, fmt.Errorf("failpoint: unknown action %q (want error, panic, sleep(d), pause or off)", p.action)
	}
	return p, nil
}

// Enable arms the named point with spec (see the package comment).
func Enable(name, spec string) error {
	p, err := parse(spec)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if old := points[name]; old != nil && old.resume != nil {
		close(old.resume)
	}
	if p.action == "off" {
		delete(points, name)
		return nil
	}
	if p.action == "pause" {
		p.resume = make(chan struct{})
	}
	points[name] = p
	return nil
}

// Disable disarms the named point; a goroutine paused there resumes.
func Disable(name string) {
	mu.Lock()
	defer mu.Unlock()
	if old := points[name]; old != nil && old.resume != nil {
		close(old.resume)
	}
	delete(points, name)
}

// Hits returns how many evaluations of the point fired since start-up.
func Hits(name string) int {
	mu.Lock()
	defer mu.Unlock()
	return hits[name]
}

// WaitHit waits until the point fired at least n times, or ctx ends.
func WaitHit(ctx context.Context, name string, n int) error {
	for {
		mu.Lock()
		h, ch := hits[name], changed
		mu.Unlock()
		if h >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("failpoint: %s fired %d times, want %d: %w", name, h, n, ctx.Err())
		}
	}
}

// Inject evaluates the named point: nil unless it is armed.
func Inject(name string) error {
	mu.Lock()
	p := points[name]
	if p == nil || p.left == 0 {
		// Unarmed, or an N* point that fired N times: it stays listed
		// (spent) so that Disable still releases a goroutine it paused.
		mu.Unlock()
		return nil
	}
	if p.left > 0 {
		p.left--
	}
	p.hits++
	hits[name]++
	close(changed)
	changed = make(chan struct{})
	action, arg, d, resume := p.action, p.arg, p.sleep, p.resume
	mu.Unlock()
	switch action {
	case "error":
		if arg != "" {
			return fmt.Errorf("%w at %s: %s", ErrInjected, name, arg)
		}
		return fmt.Errorf("%w at %s", ErrInjected, name)
	case "panic":
		panic(fmt.Sprintf("failpoint %s: injected panic", name))
	case "sleep":
		time.Sleep(d)
	case "pause":
		<-resume
	}
	return nil
}

// Handler serves the armed points: GET lists "name=spec hits=N" lines,
// PUT /<name> arms with the body as spec, DELETE /<name> disarms.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.Trim(r.URL.Path, "/")
		if i := strings.LastIndex(name, "failpoints/"); i >= 0 {
			name = name[i+len("failpoints/"):]
		} else if name == "debug/failpoints" || name == "failpoints" {
			name = ""
		}
		switch r.Method {
		case http.MethodGet:
			mu.Lock()
			var lines []string
			for n, p := range points {
				lines = append(lines, fmt.Sprintf("%s=%s(%s) left=%d hits=%d", n, p.action, p.arg, p.left, p.hits))
			}
			mu.Unlock()
			sort.Strings(lines)
			fmt.Fprintln(w, strings.Join(lines, "\n"))
		case http.MethodPut, http.MethodPost:
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1024))
			if name == "" {
				http.Error(w, "failpoint: name the point in the path", http.StatusBadRequest)
				return
			}
			if err := Enable(name, strings.TrimSpace(string(body))); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintln(w, "ok")
		case http.MethodDelete:
			Disable(name)
			fmt.Fprintln(w, "ok")
		default:
			http.Error(w, "failpoint: GET, PUT or DELETE", http.StatusMethodNotAllowed)
		}
	})
}
