package proxy

import (
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// fixture is the PKI of the verification tests: a root -> intermediate -> leaf chain
// (kong.example), an unrelated root, and client certificates for mTLS (seeds 003/004).
type fixture struct {
	dir         string
	chain       *pki.Chain
	other       *pki.Cert
	clientCA    *pki.Cert
	client      *pki.Cert // signed by clientCA
	wrongClient *pki.Cert // signed by other
	files       map[string]string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), chain: newChain(t), files: map[string]string{}}
	cert := must[*pki.Cert](t)
	f.other = cert(pki.NewRoot("other"))
	f.clientCA = cert(pki.NewRoot("client-ca"))
	f.client = cert(f.clientCA.NewLeaf("gateway", pki.ClientAuth()))
	f.wrongClient = cert(f.other.NewLeaf("gateway", pki.ClientAuth()))
	for name, data := range map[string][]byte{
		"root.crt":         f.chain.Root.CertPEM(),
		"inter.crt":        f.chain.Intermediate.CertPEM(),
		"other.crt":        f.other.CertPEM(),
		"client.crt":       f.client.ChainPEM(),
		"client.key":       f.client.KeyPEM(),
		"wrong-client.crt": f.wrongClient.ChainPEM(),
		"wrong-client.key": f.wrongClient.KeyPEM(),
	} {
		f.files[name] = writeFile(t, f.dir, name, data)
	}
	return f
}

func (f *fixture) leaf(t *testing.T, opts ...pki.Option) *pki.Cert {
	return must[*pki.Cert](t)(f.chain.Intermediate.NewLeaf("kong.example", append([]pki.Option{pki.DNS("kong.example")}, opts...)...))
}

func (f *fixture) requireClientCert(cfg *tls.Config) *tls.Config {
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = f.clientCA.Pool()
	return cfg
}

// tlsCase is one upstream TLS scenario; the defaults are a root -> intermediate -> leaf chain served as leaf + intermediate and a
// proxy trusting the root and expecting kong.example.
type tlsCase struct {
	name   string
	server func(t *testing.T, f *fixture) *tls.Config // nil: plain HTTP upstream
	proxy  func(f *fixture, u *contract.UpstreamTLS)  // tweak of the proxy's policy
	addr   func(t *testing.T) string                  // an upstream that is not a server
	opts   []Option
	want   contract.Reason // "" for success
}

func defaultServer(_ *testing.T, f *fixture) *tls.Config { return serverTLS(f.chain.Leaf) }

func TestUpstreamVerification(t *testing.T) {
	depth := func(n int) *int { return &n }
	cases := []tlsCase{
		{name: "root -> intermediate -> leaf, root trusted", want: ""},
		{name: "verifyDepth 1 allows one intermediate", proxy: func(_ *fixture, u *contract.UpstreamTLS) { u.VerifyDepth = depth(1) }},
		{name: "verifyDepth 0 refuses an intermediate", proxy: func(_ *fixture, u *contract.UpstreamTLS) { u.VerifyDepth = depth(0) },
			want: contract.ReasonChainTooDeep},
		{name: "intermediate as trust anchor passes verifyDepth 0",
			proxy: func(f *fixture, u *contract.UpstreamTLS) {
				u.CAFiles = []string{f.files["inter.crt"]}
				u.VerifyDepth = depth(0)
			}},
		{name: "CA bundles are merged", proxy: func(f *fixture, u *contract.UpstreamTLS) {
			u.CAFiles = []string{f.files["other.crt"], f.files["root.crt"]}
		}},
		{name: "missing CA", proxy: func(f *fixture, u *contract.UpstreamTLS) { u.CAFiles = []string{f.files["other.crt"]} },
			want: contract.ReasonUnknownAuthority},
		{name: "chain not served", server: func(_ *testing.T, f *fixture) *tls.Config {
			c := f.chain.Leaf.TLSCertificate()
			c.Certificate = c.Certificate[:1]
			return &tls.Config{Certificates: []tls.Certificate{c}}
		}, want: contract.ReasonUnknownAuthority},
		{name: "wrong server name", proxy: func(_ *fixture, u *contract.UpstreamTLS) { u.ServerName = "other.example" },
			want: contract.ReasonHostnameMismatch},
		{name: "default server name is the address host (IP SAN)", proxy: func(_ *fixture, u *contract.UpstreamTLS) { u.ServerName = "" }},
		{name: "subjectAltNames replace the hostname check", proxy: func(_ *fixture, u *contract.UpstreamTLS) {
			u.ServerName = "something.else"
			u.SubjectAltNames = []contract.SubjectAltName{{Type: contract.SubjectAltNameHostname, Hostname: "kong.example"}}
		}},
		{name: "any one subjectAltName matches (URI)", proxy: func(_ *fixture, u *contract.UpstreamTLS) {
			u.SubjectAltNames = []contract.SubjectAltName{
				{Type: contract.SubjectAltNameHostname, Hostname: "other.example"},
				{Type: contract.SubjectAltNameURI, URI: "spiffe://cluster.local/ns/echo/sa/echo"},
			}
		}},
		{name: "no subjectAltName matches", proxy: func(_ *fixture, u *contract.UpstreamTLS) {
			u.SubjectAltNames = []contract.SubjectAltName{
				{Type: contract.SubjectAltNameHostname, Hostname: "other.example"},
				{Type: contract.SubjectAltNameURI, URI: "spiffe://cluster.local/ns/x/sa/y"},
			}
		}, want: contract.ReasonHostnameMismatch},
		{name: "expired leaf", server: func(t *testing.T, f *fixture) *tls.Config { return serverTLS(f.leaf(t, pki.Expired())) },
			want: contract.ReasonExpired},
		{name: "not yet valid leaf", server: func(t *testing.T, f *fixture) *tls.Config { return serverTLS(f.leaf(t, pki.NotYetValid())) },
			want: contract.ReasonNotYetValid},
		{name: "expired intermediate", server: func(t *testing.T, f *fixture) *tls.Config {
			inter := must[*pki.Cert](t)(f.chain.Root.NewIntermediate("old-inter", pki.Expired()))
			return serverTLS(must[*pki.Cert](t)(inter.NewLeaf("kong.example", pki.DNS("kong.example"))))
		}, want: contract.ReasonExpired},
		{name: "server certificate for client authentication only",
			server: func(t *testing.T, f *fixture) *tls.Config { return serverTLS(f.leaf(t, pki.ClientAuth())) },
			want:   contract.ReasonBadKeyUsage},
		{name: "injected clock past the leaf's notAfter", opts: []Option{WithClock(func() time.Time { return time.Now().Add(10 * 365 * 24 * time.Hour) })},
			want: contract.ReasonExpired},
		{name: "mTLS with the right client certificate",
			server: func(_ *testing.T, f *fixture) *tls.Config { return f.requireClientCert(serverTLS(f.chain.Leaf)) },
			proxy:  withClientCert("client")},
		{name: "mTLS required, none configured (TLS 1.3)",
			server: func(_ *testing.T, f *fixture) *tls.Config { return f.requireClientCert(serverTLS(f.chain.Leaf)) },
			want:   contract.ReasonClientCertificateRejected},
		{name: "mTLS required, none configured (TLS 1.2)", server: func(_ *testing.T, f *fixture) *tls.Config {
			c := f.requireClientCert(serverTLS(f.chain.Leaf))
			c.MaxVersion = tls.VersionTLS12
			return c
		}, want: contract.ReasonClientCertificateRejected},
		{name: "mTLS with a client certificate of another CA",
			server: func(_ *testing.T, f *fixture) *tls.Config { return f.requireClientCert(serverTLS(f.chain.Leaf)) },
			proxy:  withClientCert("wrong-client"), want: contract.ReasonClientCertificateRejected},
		{name: "minVersion 1.3 against a TLS 1.2 upstream", server: func(_ *testing.T, f *fixture) *tls.Config {
			c := serverTLS(f.chain.Leaf)
			c.MaxVersion = tls.VersionTLS12
			return c
		}, proxy: func(_ *fixture, u *contract.UpstreamTLS) { u.MinVersion = "1.3" }, want: contract.ReasonProtocolVersion},
		{name: "upstream speaks plain HTTP", server: func(*testing.T, *fixture) *tls.Config { return nil },
			want: contract.ReasonUpstreamNotTLS},
		{name: "nothing listening", addr: closedPort, want: contract.ReasonConnectFailed},
		{name: "upstream never answers the handshake", addr: silentServer,
			opts: []Option{WithTimeouts(Timeouts{TLSHandshake: 300 * time.Millisecond})}, want: contract.ReasonTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runTLSCase(t, tc)
		})
	}
}

func withClientCert(name string) func(f *fixture, u *contract.UpstreamTLS) {
	return func(f *fixture, u *contract.UpstreamTLS) {
		u.ClientCertificate = &contract.ClientCertificate{CertFile: f.files[name+".crt"], KeyFile: f.files[name+".key"]}
	}
}

func runTLSCase(t *testing.T, tc tlsCase) {
	up, serverCfg, cfg := tc.start(t)
	p := startProxy(t, cfg, tc.opts...)
	code, body := get(t, p.url("echo", "/echo"))
	if tc.want == "" {
		if code != http.StatusOK || string(body) != "ok" {
			t.Fatalf("got %d %q, want 200 ok", code, body)
		}
		if up.hits.Load() != 1 {
			t.Fatalf("upstream handler hits = %d, want 1", up.hits.Load())
		}
		return
	}
	if code != http.StatusBadGateway {
		t.Fatalf("got %d %q, want 502", code, body)
	}
	eb := decodeErrorBody(t, body)
	if eb.Reason != tc.want || eb.Upstream != "echo" || eb.RequestID == "" || eb.Message != tc.want.Message() {
		t.Fatalf("502 body = %+v, want reason %q for upstream echo with a request id", eb, tc.want)
	}
	if up != nil {
		if hits, n := up.hits.Load(), up.appBytes.Load(); hits != 0 || (serverCfg != nil && n != 0) {
			t.Fatalf("request reached the upstream: %d handler hits, %d application bytes", hits, n)
		}
	}
	if got := p.failures(t, "echo", tc.want); got != 1 {
		t.Fatalf("handshake failures{reason=%q} = %v, want 1", tc.want, got)
	}
	if got := p.requests(t, "echo", "502"); got != 1 {
		t.Fatalf("requests{code=502} = %v, want 1", got)
	}
	checkNoGoInternals(t, p.logs.String())
}

func closedPort(t *testing.T) string {
	ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// silentServer accepts connections and never says anything.
func silentServer(t *testing.T) string {
	ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
			close(done)
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

// TestPlainHTTPUpstreamGetsNoRequest: the plain-HTTP upstream reads the ClientHello and
// nothing that looks like the request.
func TestPlainHTTPUpstreamGetsNoRequest(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, nil, nil)
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	code, _ := get(t, p.url("echo", "/secret-path"))
	if code != http.StatusBadGateway || up.hits.Load() != 0 {
		t.Fatalf("got %d with %d upstream hits, want 502 and none", code, up.hits.Load())
	}
	if strings.Contains(p.logs.String(), "secret-path") {
		t.Fatal("request path was logged")
	}
}

// TestFailureLoggedOncePerTransition: many failing requests log one warning; recovery
// logs once; a new reason logs again.
func TestFailureLoggedOncePerTransition(t *testing.T) {
	f := newFixture(t)
	var cfgp atomic.Pointer[tls.Config]
	cfgp.Store(serverTLS(f.leaf(t, pki.Expired())))
	up := startUpstream(t, &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return cfgp.Load(), nil
	}}, nil)
	cfg := testConfig(up.Addr, f.files["root.crt"])
	p := startProxy(t, cfg)
	for range 5 {
		if code, _ := get(t, p.url("echo", "/")); code != http.StatusBadGateway {
			t.Fatalf("got %d, want 502", code)
		}
	}
	cfgp.Store(serverTLS(f.chain.Leaf))
	for range 3 {
		if code, _ := get(t, p.url("echo", "/")); code != http.StatusOK {
			t.Fatalf("got %d, want 200", code)
		}
	}
	if n := p.logs.Count("upstream connection failed"); n != 1 {
		t.Fatalf("failure logged %d times, want 1:\n%s", n, p.logs)
	}
	if n := p.logs.Count("upstream connection recovered"); n != 1 {
		t.Fatalf("recovery logged %d times, want 1:\n%s", n, p.logs)
	}
	if got := p.failures(t, "echo", contract.ReasonExpired); got != 5 {
		t.Fatalf("failures{expired} = %v, want 5 (one per handshake)", got)
	}
}
