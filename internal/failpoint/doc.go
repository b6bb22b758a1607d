// Package failpoint holds named fault-injection points for deterministic
// fault tests: an ambiguous arbiter transaction, a write that stalls at a
// chosen step, a storage error at the worst moment.
//
// A failpoint is a call in production code:
//
//	if err := failpoint.Inject("syncset/put-after-commit"); err != nil {
//		return err
//	}
//
// In a release build (no build tag) Inject is an empty function that the
// compiler inlines away, Enabled is the constant false, and nothing can arm
// a point: failpoints cost nothing and cannot be triggered in production.
// Built with `-tags failpoints`, each point can be armed:
//
//   - in-process, from a test: Enable(name, spec) / Disable(name);
//   - in a child process: the TANDEM_FAILPOINTS environment variable,
//     "name=spec;name=spec", read at start-up;
//   - at run time over HTTP: Handler() serves GET (list armed points)
//     and PUT/DELETE /<name> with the spec as the body. Nodes mount it on
//     their side port under /debug/failpoints in failpoint builds only.
//
// A spec is `[N*]action[(arg)]`:
//
//	error          Inject returns an error naming the point (ErrInjected)
//	error(text)    the same, with text in the message
//	panic          Inject panics
//	sleep(250ms)   Inject sleeps, then returns nil
//	pause          Inject blocks until the point is disabled or re-armed
//	off            disarmed (the same as Disable)
//
// With the N* prefix the action fires on the next N evaluations only, then
// the point is spent (1*error: fail exactly once; a spent pause still
// releases its goroutine on Disable). Hits counts the
// evaluations that fired, so a test can await "the point was reached"
// instead of sleeping (WaitHit).
//
// Names are "package/what", documented where the point is: grep for
// failpoint.Inject to list them.
package failpoint

import "errors"

// ErrInjected is wrapped by every error an armed point returns.
var ErrInjected = errors.New("failpoint: injected fault")

var errNotBuilt = errors.New("failpoint: not compiled in (build with -tags failpoints)")
