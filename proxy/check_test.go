package proxy

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
)

// cnOnlyMessage is what a certificate made the way the FSM and ngrok guides make them (a
// common name, no subjectAltName) must be reported with.
const cnOnlyMessage = "presents CN=kong.example and no subjectAltName; certificates must carry the name as a DNS SAN"

// checkCase is one upstream as the active check sees it, over the tlsCase defaults (seed
// 002 served as a chain, the proxy trusting the root and expecting kong.example).
type checkCase struct {
	tlsCase
	message string // a fragment of the state's message
}

// TestActiveCheck: every reason is reported by the active check alone, before any request
// is sent, and the upstream's application receives nothing, not even on success.
func TestActiveCheck(t *testing.T) {
	depth := func(n int) *int { return &n }
	mtls := func(_ *testing.T, f *fixture) *tls.Config { return f.requireClientCert(serverTLS(f.chain.Leaf)) }
	tls12 := func(c *tls.Config) *tls.Config { c.MaxVersion = tls.VersionTLS12; return c }
	cases := []checkCase{
		{tlsCase: tlsCase{name: "verified"}, message: "verified: the upstream presents CN=kong.example issued by CN=inter"},
		{tlsCase: tlsCase{name: "unknown authority", proxy: func(f *fixture, u *UpstreamTLS) { u.CAFiles = []string{f.files["other.crt"]} },
			want: ReasonUnknownAuthority}, message: "issued by CN=inter, which is not a trusted CA"},
		{tlsCase: tlsCase{name: "intermediate not sent", server: func(_ *testing.T, f *fixture) *tls.Config {
			c := f.chain.Leaf.TLSCertificate()
			c.Certificate = c.Certificate[:1]
			return &tls.Config{Certificates: []tls.Certificate{c}}
		}, want: ReasonUnknownAuthority}, message: "the upstream sent no intermediate"},
		{tlsCase: tlsCase{name: "hostname mismatch", proxy: func(_ *fixture, u *UpstreamTLS) { u.ServerName = "other.example" },
			want: ReasonHostnameMismatch}, message: "none of which matches the name other.example"},
		{tlsCase: tlsCase{name: "CN-only certificate", server: func(t *testing.T, f *fixture) *tls.Config {
			return serverTLS(must[*pki.Cert](t)(f.chain.Intermediate.NewLeaf("kong.example")))
		}, want: ReasonHostnameMismatch}, message: cnOnlyMessage},
		{tlsCase: tlsCase{name: "CN-only certificate against subjectAltNames", server: func(t *testing.T, f *fixture) *tls.Config {
			return serverTLS(must[*pki.Cert](t)(f.chain.Intermediate.NewLeaf("kong.example")))
		}, proxy: func(_ *fixture, u *UpstreamTLS) {
			u.SubjectAltNames = []SubjectAltName{{Type: SubjectAltNameHostname, Hostname: "kong.example"}}
		}, want: ReasonHostnameMismatch}, message: cnOnlyMessage},
		{tlsCase: tlsCase{name: "expired", server: func(t *testing.T, f *fixture) *tls.Config { return serverTLS(f.leaf(t, pki.Expired())) },
			want: ReasonExpired}, message: "the upstream certificate CN=kong.example expired at"},
		{tlsCase: tlsCase{name: "not yet valid", server: func(t *testing.T, f *fixture) *tls.Config { return serverTLS(f.leaf(t, pki.NotYetValid())) },
			want: ReasonNotYetValid}, message: "is not valid before"},
		{tlsCase: tlsCase{name: "chain too deep", proxy: func(_ *fixture, u *UpstreamTLS) { u.VerifyDepth = depth(0) },
			want: ReasonChainTooDeep}, message: "has 1 intermediate(s) below a trusted CA, verifyDepth allows 0"},
		{tlsCase: tlsCase{name: "mTLS accepted (TLS 1.3)", server: mtls, proxy: withClientCert("client")}, message: "verified"},
		{tlsCase: tlsCase{name: "mTLS accepted (TLS 1.2)", server: func(t *testing.T, f *fixture) *tls.Config { return tls12(mtls(t, f)) },
			proxy: withClientCert("client")}, message: "verified"},
		{tlsCase: tlsCase{name: "mTLS, none configured (TLS 1.3)", server: mtls, want: ReasonClientCertificateRejected},
			message: "requires a client certificate and none is configured"},
		{tlsCase: tlsCase{name: "mTLS, none configured (TLS 1.2)", server: func(t *testing.T, f *fixture) *tls.Config { return tls12(mtls(t, f)) },
			want: ReasonClientCertificateRejected}, message: "none is configured"},
		{tlsCase: tlsCase{name: "mTLS, client certificate of another CA (TLS 1.3)", server: mtls, proxy: withClientCert("wrong-client"),
			want: ReasonClientCertificateRejected}, message: "the upstream rejected the client certificate"},
		{tlsCase: tlsCase{name: "protocol version", server: func(_ *testing.T, f *fixture) *tls.Config { return tls12(serverTLS(f.chain.Leaf)) },
			proxy: func(_ *fixture, u *UpstreamTLS) { u.MinVersion = "1.3" }, want: ReasonProtocolVersion}, message: "minimum TLS 1.3"},
		{tlsCase: tlsCase{name: "plain HTTP upstream", server: func(*testing.T, *fixture) *tls.Config { return nil },
			want: ReasonUpstreamNotTLS}, message: "answers in plain text, not TLS"},
		{tlsCase: tlsCase{name: "nothing listening", addr: closedPort, want: ReasonConnectFailed}, message: "connection refused"},
		{tlsCase: tlsCase{name: "silent upstream", addr: silentServer, want: ReasonTimeout,
			opts: []Option{WithTimeouts(Timeouts{TLSHandshake: 300 * time.Millisecond})}}, message: "did not complete"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCheckCase(t, tc)
		})
	}
}

// start makes the case's fixture, upstream (nil for an address that is no server) and the
// proxy configuration; serverCfg is nil for a plain-HTTP upstream.
func (tc tlsCase) start(t *testing.T) (up *upstreamServer, serverCfg *tls.Config, cfg *Config) {
	f := newFixture(t)
	if tc.server == nil {
		tc.server = defaultServer
	}
	addr := ""
	if tc.addr != nil {
		addr = tc.addr(t)
	} else {
		serverCfg = tc.server(t, f)
		up = startUpstream(t, serverCfg, nil)
		addr = up.Addr
	}
	cfg = testConfig(addr, f.files["root.crt"])
	if tc.proxy != nil {
		tc.proxy(f, cfg.Upstreams[0].TLS)
	}
	return up, serverCfg, cfg
}

func runCheckCase(t *testing.T, tc checkCase) {
	up, serverCfg, cfg := tc.start(t)
	cfg.Verification.Interval = &Duration{time.Hour} // only the check at start
	p := startProxy(t, cfg, tc.opts...)

	want := tc.want
	if want == "" {
		want = ResultOK
	}
	st := p.waitState(t, "echo", func(s UpstreamState) bool { return s.Result != ResultUnknown })
	if st.Result != want || !strings.Contains(st.Message, tc.message) {
		t.Fatalf("state = %s %q, want %s with %q", st.Result, st.Message, want, tc.message)
	}
	if strings.Contains(st.Message, "\n") || st.CheckedAt.IsZero() {
		t.Fatalf("message not one line, or no checkedAt: %+v", st)
	}
	if up != nil {
		if hits := up.hits.Load(); hits != 0 {
			t.Fatalf("the check reached the upstream's application: %d handler hits", hits)
		}
		if n := up.appBytes.Load(); serverCfg != nil && n != 0 {
			t.Fatalf("the check sent %d application bytes to the upstream", n)
		}
	}
	switch want {
	case ResultOK, ReasonUnknownAuthority, ReasonHostnameMismatch, ReasonExpired, ReasonNotYetValid, ReasonChainTooDeep:
		if st.Presented == nil || st.Presented.Subject != "CN=kong.example" || st.Presented.Issuer != "CN=inter" {
			t.Fatalf("presented = %+v, want the leaf kong.example issued by inter", st.Presented)
		}
	}
	if want != ResultOK {
		if got := p.failures(t, "echo", want); got != 0 {
			t.Fatalf("the check was counted as %v failed request handshake(s)", got)
		}
	}
	// Readiness means able to serve: an upstream failing verification does not change it.
	if code, body := get(t, p.adminURL("/readyz")); code != http.StatusOK {
		t.Fatalf("/readyz = %d %s", code, body)
	}
}

// waitState waits until cond holds for the upstream's state, read over the admin listener
// as a client would, and returns it.
func (r *running) waitState(t *testing.T, upstream string, cond func(UpstreamState) bool) UpstreamState {
	t.Helper()
	var last UpstreamState
	eventually(t, "upstream state", func() bool {
		last = r.fetchState(t, upstream)
		return cond(last)
	})
	return last
}

func (r *running) fetchState(t *testing.T, upstream string) UpstreamState {
	t.Helper()
	code, body := get(t, r.adminURL(StatePath))
	var rep StateReport
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); code != http.StatusOK || err != nil {
		t.Fatalf("GET %s = %d %s: %v", StatePath, code, body, err)
	}
	if rep.APIVersion != APIVersion || rep.Kind != StateKind {
		t.Fatalf("report is %s %s", rep.APIVersion, rep.Kind)
	}
	for _, u := range rep.Upstreams {
		if u.Name == upstream {
			return u
		}
	}
	t.Fatalf("no upstream %q in %s", upstream, body)
	return UpstreamState{}
}

// TestCheckRecoversAfterCAFix: a wrong CA bundle, confirmed by a second check, so that the
// next periodic check is an hour away; the bundle is fixed the way the kubelet updates a
// ConfigMap, and the reload's check reports the recovery, with no request sent.
func TestCheckRecoversAfterCAFix(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
	dir := must[*kubelet.Volume](t)(kubelet.WriteVolume(filepath.Join(t.TempDir(), "ca"), map[string][]byte{
		"ca.crt": f.other.CertPEM(),
	}))
	cfg := testConfig(up.Addr, dir.Path("ca.crt"))
	cfg.Verification.Interval = &Duration{time.Hour}
	p := startProxy(t, cfg, WithReloadInterval(0))
	st := p.waitState(t, "echo", func(s UpstreamState) bool { return s.ConsecutiveFailures >= 2 })
	if st.Result != ReasonUnknownAuthority {
		t.Fatalf("state = %+v, want unknown_authority", st)
	}
	if err := dir.Update(map[string][]byte{"ca.crt": f.chain.Root.CertPEM()}); err != nil {
		t.Fatal(err)
	}
	st = p.waitState(t, "echo", func(s UpstreamState) bool { return s.Result == ResultOK })
	if st.ConsecutiveFailures != 0 || st.LastVerifiedAt.IsZero() || up.hits.Load() != 0 {
		t.Fatalf("state after the fix = %+v, %d upstream hits", st, up.hits.Load())
	}
	if n := p.logs.Count("upstream connection recovered"); n != 1 {
		t.Fatalf("recovery logged %d times, want 1", n)
	}
}

// TestPeriodicCheck: with a short interval, the periodic check notices a server that
// breaks (and confirms it), then that it is fixed, without a reload and without requests.
func TestPeriodicCheck(t *testing.T) {
	f := newFixture(t)
	up, serving := startSwitchableUpstream(t, serverTLS(f.chain.Leaf))
	cfg := testConfig(up.Addr, f.files["root.crt"])
	cfg.Verification.Interval = &Duration{100 * time.Millisecond}
	p := startProxy(t, cfg)
	p.waitState(t, "echo", func(s UpstreamState) bool { return s.Result == ResultOK })

	serving.Store(serverTLS(must[*pki.Cert](t)(f.chain.Intermediate.NewLeaf("kong.example"))))
	st := p.waitState(t, "echo", func(s UpstreamState) bool { return s.ConsecutiveFailures >= 2 })
	if st.Result != ReasonHostnameMismatch || !strings.Contains(st.Message, cnOnlyMessage) || st.LastVerifiedAt.IsZero() {
		t.Fatalf("state = %+v", st)
	}
	serving.Store(serverTLS(f.chain.Leaf))
	p.waitState(t, "echo", func(s UpstreamState) bool { return s.Result == ResultOK })
	if up.hits.Load() != 0 {
		t.Fatal("a check reached the upstream's application")
	}
}

// TestTrafficUpdatesState: a failing request updates the state at once, with the check an
// hour away; a later successful request clears it.
func TestTrafficUpdatesState(t *testing.T) {
	f := newFixture(t)
	up, serving := startSwitchableUpstream(t, serverTLS(f.chain.Leaf))
	cfg := testConfig(up.Addr, f.files["root.crt"])
	cfg.Verification.Interval = &Duration{time.Hour}
	p := startProxy(t, cfg)
	p.waitState(t, "echo", func(s UpstreamState) bool { return s.Result == ResultOK })

	serving.Store(serverTLS(f.leaf(t, pki.Expired())))
	p.closeIdle()
	expectStatus(t, p.url("echo", "/"), http.StatusBadGateway, ReasonExpired)
	if st := p.fetchState(t, "echo"); st.Result != ReasonExpired || st.Presented == nil || st.Presented.NotAfter.After(time.Now()) {
		t.Fatalf("state after a failed request = %+v", st)
	}
	serving.Store(serverTLS(f.chain.Leaf))
	expectStatus(t, p.url("echo", "/"), http.StatusOK, "")
	if st := p.fetchState(t, "echo"); st.Result != ResultOK || st.ConsecutiveFailures != 0 {
		t.Fatalf("state after a successful request = %+v", st)
	}
}

// startSwitchableUpstream serves with the configuration stored in the returned pointer at
// each handshake.
func startSwitchableUpstream(t *testing.T, initial *tls.Config) (*upstreamServer, *atomic.Pointer[tls.Config]) {
	serving := &atomic.Pointer[tls.Config]{}
	serving.Store(initial)
	up := startUpstream(t, &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return serving.Load(), nil
	}}, nil)
	return up, serving
}

func (r *running) closeIdle() {
	for _, u := range r.upstreams {
		u.closeIdleConnections()
	}
}

// TestStateReportBeforeLoad: while the CA bundle does not load, the message says so.
func TestStateReportBeforeLoad(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
	cfg := testConfig(up.Addr, filepath.Join(t.TempDir(), "missing.crt"))
	cfg.Revision = "abc123"
	p := startProxy(t, cfg, WithReloadInterval(0))
	st := p.waitState(t, "echo", func(s UpstreamState) bool { return s.Result != ResultUnknown })
	if !strings.Contains(st.Message, "cannot load its TLS files: caFiles[0]") || len(st.MaterialErrors) != 1 {
		t.Fatalf("state = %+v", st)
	}
	if rep := p.State(); rep.Revision != "abc123" || rep.CheckInterval.Duration != DefaultCheckInterval {
		t.Fatalf("report = %+v", rep)
	}
}

func TestVerificationConfig(t *testing.T) {
	base := `apiVersion: proxy.gatewaytenant.io/v1alpha1
kind: ProxyConfig
upstreams:
- {name: a, listen: ":8000", address: "a.example:443", tls: {systemRoots: true}}
`
	for _, tc := range []struct {
		extra, wantErr string
	}{
		{extra: "revision: 0123abcd\nverification: {interval: 2s}\n"},
		{extra: "verification: {interval: 10ms}\n", wantErr: "verification.interval: must be between 100ms and 1h0m0s"},
		{extra: "verification: {interval: 2h}\n", wantErr: "verification.interval: must be between"},
		{extra: "revision: \"a\\nb\"\n", wantErr: "revision: at most 128 printable characters"},
		{extra: fmt.Sprintf("revision: %s\n", strings.Repeat("a", 129)), wantErr: "revision: at most 128"},
	} {
		cfg, err := ParseConfig([]byte(base + tc.extra))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.extra, err)
		case tc.wantErr == "" && cfg.Verification.interval() != 2*time.Second:
			t.Errorf("%q: interval %v", tc.extra, cfg.Verification.interval())
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want %q", tc.extra, err, tc.wantErr)
		}
	}
}

func TestNextCheck(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		failures int
		want     time.Duration
	}{
		{30 * time.Second, 0, 30 * time.Second},
		{30 * time.Second, 1, confirmDelay},
		{time.Second, 1, time.Second},
		{30 * time.Second, 2, 30 * time.Second},
		{30 * time.Second, 3, time.Minute},
		{30 * time.Second, 4, 2 * time.Minute},
		{30 * time.Second, 50, 2 * time.Minute},
	} {
		got := nextCheck(tc.interval, tc.failures)
		if got < tc.want-tc.want/10 || got > tc.want+tc.want/10 {
			t.Errorf("nextCheck(%v, %d) = %v, want %v ±10%%", tc.interval, tc.failures, got, tc.want)
		}
	}
}

// TestStateDocumented: docs/proxy.md describes the state report, its fields and the
// checks' metric.
func TestStateDocumented(t *testing.T) {
	doc := readDoc(t)
	for _, s := range []string{"`GET " + StatePath + "`", metricPrefix + "upstream_checks_total", "`verification.interval`", "`revision`",
		"`consecutiveFailures`", "`presented`", "`lastVerifiedAt`", "`materialErrors`"} {
		if !containsLine(doc, s) {
			t.Errorf("docs/proxy.md does not mention %s", s)
		}
	}
	_, example, _ := strings.Cut(doc, "```json\n{\n  \"apiVersion\"")
	example, _, _ = strings.Cut(example, "```")
	dec := json.NewDecoder(strings.NewReader(`{"apiVersion"` + example))
	dec.DisallowUnknownFields()
	var rep StateReport
	if err := dec.Decode(&rep); err != nil || rep.Kind != StateKind || len(rep.Upstreams) != 1 || rep.Upstreams[0].Presented == nil {
		t.Fatalf("the state report example of docs/proxy.md does not decode: %v", err)
	}
}
