package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// TestForwarding: Host is the upstream's, X-Forwarded-* are set, path, query and a large
// request body arrive intact, and the answer is counted.
func TestForwarding(t *testing.T) {
	f := newFixture(t)
	seen := make(chan *http.Request, 1)
	up := startUpstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.New()
		n, _ := io.Copy(sum, r.Body)
		seen <- r
		fmt.Fprintf(w, "%d %x", n, sum.Sum(nil))
	}))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	req, _ := http.NewRequest(http.MethodPost, p.url("echo", "/a/b?x=1&y=2"), bytes.NewReader(body))
	req.Host = "api.example"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if want := fmt.Sprintf("%d %x", len(body), sha256.Sum256(body)); resp.StatusCode != 200 || string(got) != want {
		t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, got, want)
	}
	r := <-seen
	checks := map[string][2]string{
		"Host":              {r.Host, up.Addr},
		"path":              {r.URL.RequestURI(), "/a/b?x=1&y=2"},
		"X-Forwarded-Host":  {r.Header.Get("X-Forwarded-Host"), "api.example"},
		"X-Forwarded-Proto": {r.Header.Get("X-Forwarded-Proto"), "http"},
		"X-Forwarded-For":   {r.Header.Get("X-Forwarded-For"), "203.0.113.7, 127.0.0.1"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if got := p.requests(t, "echo", "200"); got != 1 {
		t.Errorf("requests{code=200} = %v, want 1", got)
	}
}

// TestStreamingResponse: the first chunk reaches the client while the upstream is still
// holding the rest back.
func TestStreamingResponse(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	up := startUpstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "second\n")
	}))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	resp, err := client.Get(p.url("echo", "/stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk = %q, %v", line, err)
	}
	close(release)
	if rest, _ := io.ReadAll(br); string(rest) != "second\n" {
		t.Fatalf("rest = %q", rest)
	}
}

// TestUpstreamOfferingHTTP2: the proxy offers only http/1.1 by ALPN (docs/proxy.md,
// "Upstream protocol"), so an upstream that also offers h2 is spoken to in HTTP/1.1, on the
// fast path.
func TestUpstreamOfferingHTTP2(t *testing.T) {
	f := newFixture(t)
	up := startH2Upstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	p := startProxy(t, testConfig(up.Listener.Addr().String(), f.files["root.crt"]))
	if code, body := get(t, p.url("echo", "/")); code != 200 || string(body) != "HTTP/1.1" {
		t.Fatalf("got %d %q, want 200 HTTP/1.1", code, body)
	}
	if n := p.servers[0].handoffs.Load(); n != 0 {
		t.Errorf("%d request(s) handed to net/http, want none", n)
	}
}

// TestWebsocketUpgrade: an Upgrade request switches protocols end to end, over HTTP/1.1
// even though the upstream offers h2, and bytes flow both ways afterwards.
func TestWebsocketUpgrade(t *testing.T) {
	f := newFixture(t)
	up := startH2Upstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo: " + line)
		_ = brw.Flush()
	}))
	p := startProxy(t, testConfig(up.Listener.Addr().String(), f.files["root.crt"]))
	conn, err := net.Dial("tcp", p.ListenAddr("echo").String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answer: %v %v", resp, err)
	}
	_, _ = io.WriteString(conn, "hello\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo: hello\n" {
		t.Fatalf("after upgrade read %q, %v", line, err)
	}
	_ = conn.Close()
	eventually(t, "101 counted", func() bool { return p.requests(t, "echo", "101") == 1 })
}

// TestAdminEndpoints: health, readiness with detail, and the metric families.
func TestAdminEndpoints(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	if code, body := get(t, p.adminURL("/healthz")); code != 200 || string(body) != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	get(t, p.url("echo", "/"))
	code, body := get(t, p.adminURL("/readyz"))
	var st contract.ReadyStatus
	if err := json.Unmarshal(body, &st); err != nil || code != 200 || !st.Ready {
		t.Fatalf("/readyz = %d %s (%v)", code, body, err)
	}
	if u := st.Upstreams["echo"]; !u.Ready || u.LastResult != "ok" || !strings.Contains(u.CA, "1 CA certificate") {
		t.Fatalf("/readyz detail = %+v", u)
	}
	_, metrics := get(t, p.adminURL("/metrics"))
	for _, name := range []string{
		`gatewaytenant_proxy_requests_total{code="200",upstream="echo"} 1`,
		`gatewaytenant_proxy_upstream_handshake_failures_total{reason="unknown_authority",upstream="echo"} 0`,
		`gatewaytenant_proxy_upstream_handshake_duration_seconds_count{upstream="echo"} 1`,
		`gatewaytenant_proxy_certificate_not_after_timestamp_seconds{file="` + f.files["root.crt"] + `",kind="ca",upstream="echo"}`,
		`gatewaytenant_proxy_request_duration_seconds_count{upstream="echo"} 1`,
		`gatewaytenant_proxy_reloads_total{kind="ca",result="success",upstream="echo"} 1`,
	} {
		if !strings.Contains(string(metrics), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// TestShutdownFinishesInFlight: Shutdown turns readiness false, waits for a slow request
// in flight, and returns once it completed.
func TestShutdownFinishesInFlight(t *testing.T) {
	f := newFixture(t)
	entered, release := make(chan struct{}), make(chan struct{})
	up := startUpstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "slow")
	}))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	type result struct {
		code int
		body string
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Get(p.url("echo", "/slow"))
		if err != nil {
			done <- result{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		done <- result{resp.StatusCode, string(b)}
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- p.Shutdown(context.Background()) }()
	eventually(t, "not ready while draining", func() bool { return !p.Status().Ready && p.Status().Draining })
	close(release)
	if r := <-done; r.code != 200 || r.body != "slow" {
		t.Fatalf("in-flight request got %d %q", r.code, r.body)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestShutdownCutsAfterDrainTimeout: a request that outlives drainTimeout is cut and
// Shutdown says so.
func TestShutdownCutsAfterDrainTimeout(t *testing.T) {
	f := newFixture(t)
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	up := startUpstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	}))
	cfg := testConfig(up.Addr, f.files["root.crt"])
	cfg.Shutdown.DrainTimeout = &contract.Duration{Duration: 100 * time.Millisecond}
	p := startProxy(t, cfg)
	failed := make(chan error, 1)
	go func() {
		resp, err := client.Get(p.url("echo", "/forever"))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
		}
		failed <- err
	}()
	<-entered
	if err := p.Shutdown(context.Background()); err == nil || !strings.Contains(err.Error(), "drain timeout") {
		t.Fatalf("Shutdown = %v, want a drain timeout error", err)
	}
	if err := <-failed; err == nil {
		t.Fatal("the request outliving the drain timeout succeeded")
	}
}

// TestNewRefusesBusyPort: a listener that cannot bind fails New, naming the field, and
// releases what it had bound.
func TestNewRefusesBusyPort(t *testing.T) {
	busy := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	defer func() { _ = busy.Close() }()
	f := newFixture(t)
	cfg := testConfig("127.0.0.1:1", f.files["root.crt"])
	cfg.Upstreams[0].Listen = busy.Addr().String()
	if _, err := New(cfg); err == nil || !strings.HasPrefix(err.Error(), "upstreams[0].listen:") {
		t.Fatalf("New = %v, want an upstreams[0].listen error", err)
	}
}

// TestExchangeFailures: failures after a verified handshake answer with their own reason
// and are not counted as handshake failures.
func TestExchangeFailures(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	cases := []struct {
		name     string
		handler  http.HandlerFunc
		opts     []Option
		wantCode int
		want     contract.Reason
	}{
		{"response headers too late", func(http.ResponseWriter, *http.Request) { <-hang },
			[]Option{WithTimeouts(Timeouts{ResponseHeader: 200 * time.Millisecond})}, http.StatusGatewayTimeout, contract.ReasonTimeout},
		{"upstream closes the connection", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, nil, http.StatusBadGateway, contract.ReasonUpstreamError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			up := startUpstream(t, serverTLS(f.chain.Leaf), tc.handler)
			p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]), tc.opts...)
			code, body := get(t, p.url("echo", "/"))
			if eb := decodeErrorBody(t, body); code != tc.wantCode || eb.Reason != tc.want {
				t.Fatalf("got %d %+v, want %d %s", code, eb, tc.wantCode, tc.want)
			}
			for _, r := range contract.HandshakeFailureReasons {
				if n := p.failures(t, "echo", r); n != 0 {
					t.Fatalf("handshake failures{%s} = %v, want 0", r, n)
				}
			}
		})
	}
}

// TestClientCertificateRejectedOverH2: with an upstream that negotiates h2, the TLS 1.3
// rejection of a missing client certificate arrives on the HTTP/2 connection and is still
// classified.
func TestClientCertificateRejectedOverH2(t *testing.T) {
	f := newFixture(t)
	var hits atomic.Int64
	up := startH2Upstream(t, f.requireClientCert(serverTLS(f.chain.Leaf)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		hits.Add(1)
	}))
	p := startProxy(t, testConfig(up.Listener.Addr().String(), f.files["root.crt"]))
	code, body := get(t, p.url("echo", "/"))
	if eb := decodeErrorBody(t, body); code != http.StatusBadGateway || eb.Reason != contract.ReasonClientCertificateRejected || hits.Load() != 0 {
		t.Fatalf("got %d %+v with %d upstream hits", code, eb, hits.Load())
	}
}
