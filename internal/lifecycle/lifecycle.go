// Package lifecycle tracks the long-lived goroutines a component starts so
// that its Close/Stop can wait for all of them (like etcd's GoAttach plus
// a wait group).
//
// Usage: a component holds a Group, starts every background goroutine with
// g.Go(f), and on shutdown first makes those goroutines return (cancel
// their context, close their listeners), then calls g.Stop() and g.Wait().
// After Stop, Go refuses to start anything, so a goroutine that would be
// started by a racing event during shutdown is never left running.
package lifecycle

import "sync"

// Group is a set of tracked goroutines. The zero value is ready to use.
// All methods are safe for concurrent use.
type Group struct {
	mu      sync.Mutex // guards stopped and the Add half of wg
	stopped bool
	wg      sync.WaitGroup
}

// Go runs f in a new goroutine tracked by the group and reports true, or,
// once Stop was called, does nothing and reports false (f is not run).
func (g *Group) Go(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// Stop makes later Go calls refuse to start goroutines. It does not wait;
// it is idempotent.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}

// Stopped reports whether Stop was called.
func (g *Group) Stopped() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopped
}

// Wait blocks until every goroutine started by Go has returned. Call it
// after Stop (otherwise a concurrent Go may start another goroutine after
// Wait returned). It must not be called from a goroutine of the group.
func (g *Group) Wait() { g.wg.Wait() }

// StopAndWait is Stop followed by Wait.
func (g *Group) StopAndWait() {
	g.Stop()
	g.wg.Wait()
}
