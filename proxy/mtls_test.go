package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// Whether a request reached the upstream's application is decided per connection: an
// upstream that accepted the client certificate and then closed the connection (its
// application did) is an upstream_error, never client_certificate_rejected, also on the
// very first connection; one that closed a client-authenticated TLS 1.3 connection without
// a word is unknowable and says so.

// TestMTLSApplicationCloseIsNotARefusal: TLS 1.3 and 1.2, a POST whose handler closes the
// connection without answering, on a fresh proxy.
func TestMTLSApplicationCloseIsNotARefusal(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			f := newFixture(t)
			serverCfg := f.requireClientCert(serverTLS(f.chain.Leaf))
			serverCfg.MaxVersion = version
			up := startUpstream(t, serverCfg, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					_ = conn.Close()
				}
			}))
			cfg := testConfig(up.Addr, f.files["root.crt"])
			withClientCert("client")(f, cfg.Upstreams[0].TLS)
			p := startProxy(t, cfg)
			resp, err := client.Post(p.url("echo", "/orders"), "application/json", strings.NewReader(`{"order":1}`))
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			_ = resp.Body.Close()
			eb := decodeErrorBody(t, body)
			if resp.StatusCode != http.StatusBadGateway || eb.Reason != contract.ReasonUpstreamError {
				t.Fatalf("got %d %+v, want 502 %s", resp.StatusCode, eb, contract.ReasonUpstreamError)
			}
			if up.hits.Load() != 1 {
				t.Fatalf("upstream handler hits = %d, want 1", up.hits.Load())
			}
			if n := p.failures(t, "echo", contract.ReasonClientCertificateRejected); n != 0 {
				t.Fatalf("client_certificate_rejected failures = %v, want 0", n)
			}
			checkNoGoInternals(t, p.logs.String())
		})
	}
}

// TestMTLSSilentCloseMayHaveReachedUpstream: the upstream completes a TLS 1.3 handshake
// that asks for a client certificate, sends nothing (no session ticket, no alert), reads
// the request and closes: the proxy cannot know whether the certificate was refused or the
// request was read, and answers the reason that says the request may have reached the
// upstream.
func TestMTLSSilentCloseMayHaveReachedUpstream(t *testing.T) {
	f := newFixture(t)
	addr := silentMTLSServer(t, f, func(tc *tls.Conn) {
		_, _ = tc.Read(make([]byte, 1)) // the request arrives
	})
	cfg := testConfig(addr, f.files["root.crt"])
	withClientCert("client")(f, cfg.Upstreams[0].TLS)
	p := startProxy(t, cfg)
	code, body := get(t, p.url("echo", "/"))
	if eb := decodeErrorBody(t, body); code != http.StatusBadGateway || eb.Reason != contract.ReasonClosedUnconfirmed {
		t.Fatalf("got %d %+v, want 502 %s", code, eb, contract.ReasonClosedUnconfirmed)
	}
	for _, r := range contract.HandshakeFailureReasons {
		if n := p.failures(t, "echo", r); n != 0 {
			t.Fatalf("handshake failures{%s} = %v, want 0: nothing says the handshake failed", r, n)
		}
	}
}

// silentMTLSServer is a TLS 1.3 server that asks for a client certificate, sends nothing
// after the handshake (no session ticket, no alert), runs then on the connection and
// closes it.
func silentMTLSServer(t *testing.T, f *fixture, then func(*tls.Conn)) string {
	serverCfg := serverTLS(f.chain.Leaf)
	serverCfg.ClientAuth = tls.RequestClientCert
	serverCfg.SessionTicketsDisabled = true
	serverCfg.MinVersion = tls.VersionTLS13
	ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := tls.Server(c, serverCfg)
			if tc.Handshake() == nil {
				then(tc)
			}
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

// rawAnswer hijacks the connection, writes raw as the whole answer and closes.
func rawAnswer(w http.ResponseWriter, raw string) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	_, _ = brw.WriteString(raw)
	_ = brw.Flush()
	_ = conn.Close()
}

// checkNoGoInternals: log lines speak of the upstream, not of net/http's insides.
func checkNoGoInternals(t *testing.T, logs string) {
	t.Helper()
	for _, internal := range []string{"readLoopPeekFailLocked", "persistConn", "net/http:", "httputil:", "http2:"} {
		if strings.Contains(logs, internal) {
			t.Errorf("the log shows Go internals (%q):\n%s", internal, logs)
		}
	}
}

// TestExchangeFailureLogSpeaksPlainly: an upstream that resets the connection after
// reading the request gives upstream_error and a log line a person reads without knowing
// Go's HTTP client.
func TestExchangeFailureLogSpeaksPlainly(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		tcp := conn.(countingConn).Conn.(*tls.Conn).NetConn().(*net.TCPConn)
		_ = tcp.SetLinger(0) // close with a reset
		_ = tcp.Close()
	}))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	code, body := get(t, p.url("echo", "/"))
	if eb := decodeErrorBody(t, body); code != http.StatusBadGateway || eb.Reason != contract.ReasonUpstreamError {
		t.Fatalf("got %d %+v, want 502 %s", code, eb, contract.ReasonUpstreamError)
	}
	eventually(t, "the log line", func() bool { return strings.Contains(p.logs.String(), "the upstream reset the connection") })
	checkNoGoInternals(t, p.logs.String())
}

// TestUnknownAuthorityLogSaysWhatIsMissing: the log line of unknown_authority names the
// issuer that is not trusted and how many certificates the upstream sent; before any CA
// bundle has loaded it says so instead.
func TestUnknownAuthorityLogSaysWhatIsMissing(t *testing.T) {
	t.Run("leaf only", func(t *testing.T) {
		f := newFixture(t)
		c := f.chain.Leaf.TLSCertificate()
		c.Certificate = c.Certificate[:1] // OpenSSL's -cert without the chain
		up := startUpstream(t, &tls.Config{Certificates: []tls.Certificate{c}}, nil)
		p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
		get(t, p.url("echo", "/"))
		want := `ends at issuer \"CN=inter\", which is not in the CA bundle; the upstream sent 1 certificate(s) (only its leaf`
		eventually(t, "the log line", func() bool { return strings.Contains(p.logs.String(), want) })
	})
	t.Run("no CA bundle loaded", func(t *testing.T) {
		f := newFixture(t)
		up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
		p := startProxy(t, testConfig(up.Addr, f.dir+"/missing.crt"), WithReloadInterval(0))
		get(t, p.url("echo", "/"))
		eventually(t, "the log line", func() bool { return strings.Contains(p.logs.String(), "no CA bundle loaded") })
	})
}

// TestMTLSCloseAfterHandshakeIsARefusal: an upstream that closes a TLS 1.3 connection
// right after a handshake in which it asked for a client certificate refused it: the
// proxy waits for that verdict before sending the request, so nothing reached the upstream.
func TestMTLSCloseAfterHandshakeIsARefusal(t *testing.T) {
	f := newFixture(t)
	addr := silentMTLSServer(t, f, func(*tls.Conn) {})
	cfg := testConfig(addr, f.files["root.crt"])
	withClientCert("client")(f, cfg.Upstreams[0].TLS)
	p := startProxy(t, cfg)
	code, body := get(t, p.url("echo", "/"))
	if eb := decodeErrorBody(t, body); code != http.StatusBadGateway || eb.Reason != contract.ReasonClientCertificateRejected {
		t.Fatalf("got %d %+v, want 502 %s", code, eb, contract.ReasonClientCertificateRejected)
	}
	if n := p.failures(t, "echo", contract.ReasonClientCertificateRejected); n < 1 {
		t.Fatalf("client_certificate_rejected failures = %v, want at least 1", n)
	}
}

// TestNetHTTPLogLinesSpeakPlainly: what net/http's server and ReverseProxy log (here a
// response body broken off by the upstream) comes without their package prefixes.
func TestNetHTTPLogLinesSpeakPlainly(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		rawAnswer(w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
	}))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	// Through net/http (HTTP/1.0 is not for the fast path).
	conn := must[net.Conn](t)(net.Dial("tcp", p.ListenAddr("echo").String()))
	defer func() { _ = conn.Close() }()
	_, _ = io.WriteString(conn, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	_, _ = io.ReadAll(conn)
	eventually(t, "the log line", func() bool { return strings.Contains(p.logs.String(), "reading the upstream's answer failed") })
	checkNoGoInternals(t, p.logs.String())
}
