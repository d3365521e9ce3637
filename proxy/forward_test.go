package proxy

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Forwarding behaviours that any engine behind the listeners must keep: body framing both
// ways, hop-by-hop headers, trailers, raw paths, connection reuse and closing.

// hashHandler answers "<bytes> <sha256>" of the request body, and the framing it saw.
var hashHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	sum := sha256.New()
	n, err := io.Copy(sum, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%d %x cl=%d", n, sum.Sum(nil), r.ContentLength)
})

// patternReader yields n bytes of a repeating pattern without holding them in memory.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := min(int64(len(b)), p.left)
	for i := range n {
		b[i] = byte('a' + i%26)
	}
	p.left -= n
	return int(n), nil
}

func patternSum(n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, &patternReader{left: n})
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestUploads(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), hashHandler)
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	for _, tc := range []struct {
		name    string
		size    int64
		chunked bool
	}{
		{"100 MB with Content-Length", 100 << 20, false},
		{"64 KiB with Content-Length", maxFastBody, false},
		{"one byte", 1, false},
		{"chunked, unknown length", 3<<20 + 17, true},
		{"empty POST", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = &patternReader{left: tc.size}
			if tc.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, p.url("echo", "/upload"), body)
			if !tc.chunked {
				req.ContentLength = tc.size
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := string(readAll(t, resp))
			_ = resp.Body.Close()
			want := fmt.Sprintf("%d %s", tc.size, patternSum(tc.size))
			if resp.StatusCode != 200 || !strings.HasPrefix(got, want) {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, got, want)
			}
		})
	}
}

// TestHopByHopHeaders: connection-specific headers, and those named in Connection, stop at
// the proxy in both directions; end-to-end ones pass.
func TestHopByHopHeaders(t *testing.T) {
	f := newFixture(t)
	seen := make(chan http.Header, 1)
	up := startUpstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Resp-End", "kept")
		_, _ = io.WriteString(w, "ok")
	}))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	req, _ := http.NewRequest(http.MethodGet, p.url("echo", "/"), nil)
	req.Header.Set("Connection", "X-Hop, keep-alive")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("Proxy-Authorization", "Basic eDp5")
	req.Header.Set("X-End", "kept")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = readAll(t, resp)
	_ = resp.Body.Close()
	h := <-seen
	for _, name := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization", "Connection"} {
		if v := h.Get(name); v != "" {
			t.Errorf("request header %s reached the upstream: %q", name, v)
		}
	}
	if h.Get("X-End") != "kept" {
		t.Errorf("X-End did not reach the upstream: %v", h)
	}
	if resp.Header.Get("X-Resp-Hop") != "" || resp.Header.Get("Keep-Alive") != "" || resp.Header.Get("X-Resp-End") != "kept" {
		t.Errorf("response headers = %v", resp.Header)
	}
}

// TestResponseFraming: HEAD, 204, 304, trailers, a body delimited by the upstream closing
// the connection, and a raw path with an encoded slash.
func TestResponseFraming(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1234")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/trailer":
			w.Header().Set("Trailer", "X-Checksum")
			_, _ = io.WriteString(w, "body")
			w.Header().Set("X-Checksum", "abc")
		case "/close-delimited":
			rawAnswer(w, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
		default:
			_, _ = io.WriteString(w, r.URL.RawPath+" "+r.URL.RawQuery)
		}
	}))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	do := func(method, path string) (*http.Response, string) {
		req, _ := http.NewRequest(method, p.url("echo", path), nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		body := string(readAll(t, resp))
		_ = resp.Body.Close()
		return resp, body
	}
	if resp, body := do(http.MethodHead, "/head"); resp.StatusCode != 200 || resp.ContentLength != 1234 || body != "" {
		t.Errorf("HEAD: %d length %d body %q", resp.StatusCode, resp.ContentLength, body)
	}
	for _, c := range []struct {
		path string
		code int
	}{{"/204", 204}, {"/304", 304}} {
		if resp, body := do(http.MethodGet, c.path); resp.StatusCode != c.code || body != "" {
			t.Errorf("%s: %d %q", c.path, resp.StatusCode, body)
		}
	}
	if resp, body := do(http.MethodGet, "/trailer"); body != "body" || resp.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("trailer: %q %v", body, resp.Trailer)
	}
	if resp, body := do(http.MethodGet, "/close-delimited"); resp.StatusCode != 200 || body != "until the end" {
		t.Errorf("close-delimited: %d %q", resp.StatusCode, body)
	}
	if _, body := do(http.MethodGet, "/a%2Fb/c?x=%20y&z"); body != "/a%2Fb/c x=%20y&z" {
		t.Errorf("raw path and query = %q", body)
	}
	// The same client connection carried all of these, then still works.
	if resp, body := do(http.MethodGet, "/again"); resp.StatusCode != 200 || body != " " {
		t.Errorf("after the others: %d %q", resp.StatusCode, body)
	}
}

// TestUpstreamClosesIdleConnections: an upstream closing its idle keep-alive connections
// (its idle timeout) costs no request: a pooled connection found closed is replaced.
func TestUpstreamClosesIdleConnections(t *testing.T) {
	f := newFixture(t)
	var closed atomic.Int64
	ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	srv := &http.Server{
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		TLSConfig:   serverTLS(f.chain.Leaf),
		IdleTimeout: 50 * time.Millisecond, // closes idle keep-alive connections
		// HTTP/1.1 only: a pooled HTTP/1.1 connection closed by the upstream is the case.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed {
				closed.Add(1)
			}
		},
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	p := startProxy(t, testConfig(ln.Addr().String(), f.files["root.crt"]))
	for i := range 3 {
		if code, body := get(t, p.url("echo", "/")); code != 200 || string(body) != "ok" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		eventually(t, "the upstream to close its idle connection", func() bool { return closed.Load() > int64(i) })
	}
}

// TestClientConnectionClose: "Connection: close" from the gateway is honoured: the answer
// says so and the connection is closed after it.
func TestClientConnectionClose(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	conn := must[net.Conn](t)(net.Dial("tcp", p.ListenAddr("echo").String()))
	defer func() { _ = conn.Close() }()
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 || string(body) != "ok" || !resp.Close {
		t.Fatalf("got %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open after Connection: close (read: %v)", err)
	}
}

// TestHeadsNetHTTPAnswers: requests the fast path does not take are answered as net/http
// answers them: an HTTP/1.0 request is served, a malformed head gets 400.
func TestHeadsNetHTTPAnswers(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	for _, c := range []struct {
		raw  string
		code int
	}{
		{"GET / HTTP/1.0\r\nHost: x\r\n\r\n", 200},
		{"GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
	} {
		conn := must[net.Conn](t)(net.Dial("tcp", p.ListenAddr("echo").String()))
		_, _ = io.WriteString(conn, c.raw)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != c.code {
			t.Errorf("%q: %v %v, want %d", c.raw, resp, err, c.code)
		}
		_ = conn.Close()
	}
}

// TestPipelinedRequests: requests sent back to back on one connection, before the first
// answer, are all answered, in order.
func TestPipelinedRequests(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	conn := must[net.Conn](t)(net.Dial("tcp", p.ListenAddr("echo").String()))
	defer func() { _ = conn.Close() }()
	_, _ = io.WriteString(conn, "GET /one HTTP/1.1\r\nHost: x\r\n\r\nPOST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /three HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	for _, want := range []string{"/one", "/two", "/three"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, want)
		}
	}
}

// TestForwardingHeadersBothEngines: Host rewrite and X-Forwarded-* as TestForwarding
// checks them, for a request the fast path takes (small body) and one it hands to
// net/http (HTTP/1.0), with and without the gateway's own X-Forwarded-Host and -Proto.
func TestForwardingHeadersBothEngines(t *testing.T) {
	f := newFixture(t)
	seen := make(chan *http.Request, 1)
	up := startUpstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- r
		_, _ = w.Write(body)
	}))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	for _, tc := range []struct {
		name, proto, extra string
		wantXFH, wantXFP   string
		handoffs           int64
	}{
		{"fast path", "HTTP/1.1", "", "api.example", "http", 0},
		{"fast path, gateway's X-Forwarded-Host and -Proto kept", "HTTP/1.1",
			"X-Forwarded-Host: outer.example\r\nX-Forwarded-Proto: https\r\n", "outer.example", "https", 0},
		{"net/http", "HTTP/1.0", "", "api.example", "http", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := p.servers[0].handoffs.Load()
			defer func() {
				if n := p.servers[0].handoffs.Load() - before; n != tc.handoffs {
					t.Errorf("%d connection(s) handed to net/http, want %d", n, tc.handoffs)
				}
			}()
			conn := must[net.Conn](t)(net.Dial("tcp", p.ListenAddr("echo").String()))
			defer func() { _ = conn.Close() }()
			_, _ = io.WriteString(conn, "POST /a/b?x=1 "+tc.proto+"\r\nHost: api.example\r\nX-Forwarded-For: 203.0.113.7\r\n"+
				tc.extra+"Content-Length: 5\r\n\r\nhello")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); resp.StatusCode != 200 || string(body) != "hello" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			r := <-seen
			for name, c := range map[string][2]string{
				"Host":              {r.Host, up.Addr},
				"path":              {r.URL.RequestURI(), "/a/b?x=1"},
				"X-Forwarded-Host":  {r.Header.Get("X-Forwarded-Host"), tc.wantXFH},
				"X-Forwarded-Proto": {r.Header.Get("X-Forwarded-Proto"), tc.wantXFP},
				"X-Forwarded-For":   {r.Header.Get("X-Forwarded-For"), "203.0.113.7, 127.0.0.1"},
			} {
				if c[0] != c[1] {
					t.Errorf("%s = %q, want %q", name, c[0], c[1])
				}
			}
		})
	}
}
