package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrDataDirInUse: another process holds the data directory.
var ErrDataDirInUse = errors.New("server: data directory in use")

// lockDataDir takes an exclusive, non-blocking flock(2) on
// dir/standalone.lock, writing this process's pid into it, so a second
// `tandem standalone` on the same directory is refused at once, naming
// the holder, instead of waiting forever on the embedded arbiter's files.
// The lock ends with the process (or when the file is closed).
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	path := filepath.Join(dir, "standalone.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		holder := strings.TrimSpace(string(b))
		if _, perr := strconv.Atoi(holder); perr != nil {
			holder = "unknown"
		}
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by another tandem process (pid %s); stop it or use another --data-dir", ErrDataDirInUse, dir, holder)
		}
		return nil, fmt.Errorf("server: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
