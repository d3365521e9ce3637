// Package testutil holds what the proxy's unit tests (proxy/) and end-to-end tests
// (test/proxy) share: polling with a generous limit, fatal-on-error unwrapping, and a
// buffer that goroutines write while a test reads it.
package testutil

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test after a minute: generous for a
// loaded CI machine, never a timing assertion.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// Must returns a function that unwraps (value, error), failing the test on an error:
// Must[*pki.Cert](t)(pki.NewRoot("ca")).
func Must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers (logs, stderr).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count is the number of occurrences of substr so far.
func (b *SyncBuffer) Count(substr string) int { return strings.Count(b.String(), substr) }

// TLSServer starts an httptest HTTPS server on loopback with cfg, offering h2 and
// HTTP/1.1, that logs nothing and stops at the end of the test.
func TLSServer(t testing.TB, cfg *tls.Config, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.TLS = cfg
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
