//go:build unix

package expr

import "syscall"

// processCPU returns the process's user+system CPU time in nanoseconds, so
// that benchmarks can report CPU cost on a machine shared with other work.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
