package testutil

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Load sends GET requests to one URL continuously from a few workers, over kept-alive
// connections as a gateway does, and counts the answers: anything but a 200 is a failure.
// Reload and rotation tests run under it and require zero failures.
type Load struct {
	ok, failed atomic.Int64
	lastFail   atomic.Value // string
	stop       chan struct{}
	wg         sync.WaitGroup
}

// StartLoad starts the workers; they stop at Finish, or at the end of the test.
func StartLoad(t testing.TB, url string, workers int) *Load {
	l := &Load{stop: make(chan struct{})}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: time.Minute}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err != nil {
					l.fail(err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					l.fail(fmt.Sprintf("%d %s", resp.StatusCode, body))
					continue
				}
				l.ok.Add(1)
			}
		})
	}
	t.Cleanup(l.halt)
	return l
}

func (l *Load) fail(msg string) {
	l.failed.Add(1)
	l.lastFail.Store(msg)
}

func (l *Load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// OK is the number of successful requests so far.
func (l *Load) OK() int64 { return l.ok.Load() }

// Progress waits for n more successful requests, so that each phase of a test runs under
// load.
func (l *Load) Progress(t testing.TB, n int64) {
	t.Helper()
	target := l.ok.Load() + n
	Eventually(t, fmt.Sprintf("%d more successful requests", n), func() bool { return l.ok.Load() >= target })
}

// Finish stops the workers and fails the test if any request failed.
func (l *Load) Finish(t testing.TB) {
	t.Helper()
	l.halt()
	if n := l.failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed; last: %v", n, n+l.ok.Load(), l.lastFail.Load())
	}
}
