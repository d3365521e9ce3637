package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// burstConnections is how many new gateway connections TestBurst opens at once.
const burstConnections = 2000

// acceptCounter counts the connections a listener accepted.
type acceptCounter struct {
	net.Listener
	n *atomic.Int64
}

func (l acceptCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestBurst: 2,000 new gateway connections, each with one request, all at once. Every one
// is answered 200, and the proxy opens far fewer upstream TLS connections than that: the
// requests queue for the connections a bounded number of dials open (docs/benchmarks.md,
// "Bursts"). Counted, not timed.
func TestBurst(t *testing.T) {
	f := newFixture(t)
	var upstreamConns atomic.Int64
	ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})}
	srv.TLSConfig = serverTLS(f.chain.Leaf)
	go func() { _ = srv.ServeTLS(acceptCounter{Listener: ln, n: &upstreamConns}, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	p := startProxy(t, testConfig(ln.Addr().String(), f.files["root.crt"]))
	eventually(t, "the first active check", func() bool { return p.fetchState(t, "echo").Result == contract.ResultOK })
	before := upstreamConns.Load()

	addr := p.ListenAddr("echo").String()
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := map[string]int{}
	for range burstConnections {
		wg.Go(func() {
			<-start
			if err := oneRequest(addr); err != nil {
				mu.Lock()
				failures[err.Error()]++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	opened := upstreamConns.Load() - before
	t.Logf("burst of %d new connections: %d failed, %d upstream TLS connections opened", burstConnections, len(failures), opened)
	for msg, n := range failures {
		t.Errorf("%d request(s) failed: %s", n, msg)
	}
	if opened > burstConnections/4 {
		t.Errorf("%d upstream connections opened for %d requests, want at most %d", opened, burstConnections, burstConnections/4)
	}
}

// oneRequest sends GET / on a new connection and reads a 200 "ok".
func oneRequest(addr string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute)) // a safety net, not a measurement
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: burst\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(body) != "ok" {
		return fmt.Errorf("%d %q %v", resp.StatusCode, body, err)
	}
	return nil
}
