package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/internal/engine"
)

// A second standalone on a data directory in use is refused at once,
// naming the holder; the running one answers /readyz as the active and
// explains that it has nobody to switch over to.
func TestStandaloneDataDirInUseAndReadiness(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{Engine: engine.Config{DataDir: dir}, Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Logger: quiet}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	}()
	begin := time.Now()
	_, err = Start(cfg)
	if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("second start on the same dir: %v", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("the refusal took %v", d) // generous: it must not wait for a timeout
	}
	get := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+s.HTTPAddr()+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("GET", "/readyz"); code != 200 || !strings.Contains(body, "active") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, body := get("GET", "/readyz?role=active"); code != 200 {
		t.Errorf("/readyz?role=active: %d %q", code, body)
	}
	if code, _ := get("GET", "/readyz?max_lag=x"); code != 400 {
		t.Errorf("/readyz?max_lag=x: %d", code)
	}
	if code, body := get("POST", "/v1/switchover"); code != 409 || !strings.Contains(body, "no standby") {
		t.Errorf("/v1/switchover on a standalone: %d %q", code, body)
	}
}
