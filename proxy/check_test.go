package proxy

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
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
		{tlsCase: tlsCase{name: "unknown authority", proxy: func(f *fixture, u *contract.UpstreamTLS) { u.CAFiles = []string{f.files["other.crt"]} },
			want: contract.ReasonUnknownAuthority}, message: "issued by CN=inter, which is not a trusted CA"},
		{tlsCase: tlsCase{name: "intermediate not sent", server: func(_ *testing.T, f *fixture) *tls.Config {
			c := f.chain.Leaf.TLSCertificate()
			c.Certificate = c.Certificate[:1]
			return &tls.Config{Certificates: []tls.Certificate{c}}
		}, want: contract.ReasonUnknownAuthority}, message: "the upstream sent no intermediate"},
		{tlsCase: tlsCase{name: "hostname mismatch", proxy: func(_ *fixture, u *contract.UpstreamTLS) { u.ServerName = "other.example" },
			want: contract.ReasonHostnameMismatch}, message: "none of which matches the name other.example"},
		{tlsCase: tlsCase{name: "CN-only certificate", server: func(t *testing.T, f *fixture) *tls.Config {
			return serverTLS(must[*pki.Cert](t)(f.chain.Intermediate.NewLeaf("kong.example")))
		}, want: contract.ReasonHostnameMismatch}, message: cnOnlyMessage},
		{tlsCase: tlsCase{name: "CN-only certificate against subjectAltNames", server: func(t *testing.T, f *fixture) *tls.Config {
			return serverTLS(must[*pki.Cert](t)(f.chain.Intermediate.NewLeaf("kong.example")))
		}, proxy: func(_ *fixture, u *contract.UpstreamTLS) {
			u.SubjectAltNames = []contract.SubjectAltName{{Type: contract.SubjectAltNameHostname, Hostname: "kong.example"}}
		}, want: contract.ReasonHostnameMismatch}, message: cnOnlyMessage},
		{tlsCase: tlsCase{name: "expired", server: func(t *testing.T, f *fixture) *tls.Config { return serverTLS(f.leaf(t, pki.Expired())) },
			want: contract.ReasonExpired}, message: "the upstream certificate CN=kong.example expired at"},
		{tlsCase: tlsCase{name: "not yet valid", server: func(t *testing.T, f *fixture) *tls.Config { return serverTLS(f.leaf(t, pki.NotYetValid())) },
			want: contract.ReasonNotYetValid}, message: "is not valid before"},
		{tlsCase: tlsCase{name: "chain too deep", proxy: func(_ *fixture, u *contract.UpstreamTLS) { u.VerifyDepth = depth(0) },
			want: contract.ReasonChainTooDeep}, message: "has 1 intermediate(s) below a trusted CA, verifyDepth allows 0"},
		{tlsCase: tlsCase{name: "mTLS accepted (TLS 1.3)", server: mtls, proxy: withClientCert("client")}, message: "verified"},
		{tlsCase: tlsCase{name: "mTLS accepted (TLS 1.2)", server: func(t *testing.T, f *fixture) *tls.Config { return tls12(mtls(t, f)) },
			proxy: withClientCert("client")}, message: "verified"},
		{tlsCase: tlsCase{name: "mTLS, none configured (TLS 1.3)", server: mtls, want: contract.ReasonClientCertificateRejected},
			message: "requires a client certificate and none is configured"},
		{tlsCase: tlsCase{name: "mTLS, none configured (TLS 1.2)", server: func(t *testing.T, f *fixture) *tls.Config { return tls12(mtls(t, f)) },
			want: contract.ReasonClientCertificateRejected}, message: "none is configured"},
		{tlsCase: tlsCase{name: "mTLS, client certificate of another CA (TLS 1.3)", server: mtls, proxy: withClientCert("wrong-client"),
			want: contract.ReasonClientCertificateRejected}, message: "the upstream rejected the client certificate"},
		{tlsCase: tlsCase{name: "protocol version", server: func(_ *testing.T, f *fixture) *tls.Config { return tls12(serverTLS(f.chain.Leaf)) },
			proxy: func(_ *fixture, u *contract.UpstreamTLS) { u.MinVersion = "1.3" }, want: contract.ReasonProtocolVersion}, message: "minimum TLS 1.3"},
		{tlsCase: tlsCase{name: "plain HTTP upstream", server: func(*testing.T, *fixture) *tls.Config { return nil },
			want: contract.ReasonUpstreamNotTLS}, message: "answers in plain text, not TLS"},
		{tlsCase: tlsCase{name: "nothing listening", addr: closedPort, want: contract.ReasonConnectFailed}, message: "connection refused"},
		{tlsCase: tlsCase{name: "silent upstream", addr: silentServer, want: contract.ReasonTimeout,
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
func (tc tlsCase) start(t *testing.T) (up *upstreamServer, serverCfg *tls.Config, cfg *contract.Config) {
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
	cfg.Verification.Interval = &contract.Duration{Duration: time.Hour} // only the check at start
	p := startProxy(t, cfg, tc.opts...)

	want := tc.want
	if want == "" {
		want = contract.ResultOK
	}
	st := p.waitState(t, "echo", func(s contract.UpstreamState) bool { return s.Result != contract.ResultUnknown })
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
	case contract.ResultOK, contract.ReasonUnknownAuthority, contract.ReasonHostnameMismatch, contract.ReasonExpired, contract.ReasonNotYetValid, contract.ReasonChainTooDeep:
		if st.Presented == nil || st.Presented.Subject != "CN=kong.example" || st.Presented.Issuer != "CN=inter" {
			t.Fatalf("presented = %+v, want the leaf kong.example issued by inter", st.Presented)
		}
	}
	if want != contract.ResultOK {
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
func (r *running) waitState(t *testing.T, upstream string, cond func(contract.UpstreamState) bool) contract.UpstreamState {
	t.Helper()
	var last contract.UpstreamState
	eventually(t, "upstream state", func() bool {
		last = r.fetchState(t, upstream)
		return cond(last)
	})
	return last
}

func (r *running) fetchState(t *testing.T, upstream string) contract.UpstreamState {
	t.Helper()
	code, body := get(t, r.adminURL(contract.StatePath))
	var rep contract.StateReport
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); code != http.StatusOK || err != nil {
		t.Fatalf("GET %s = %d %s: %v", contract.StatePath, code, body, err)
	}
	if rep.APIVersion != contract.APIVersion || rep.Kind != contract.StateKind {
		t.Fatalf("report is %s %s", rep.APIVersion, rep.Kind)
	}
	for _, u := range rep.Upstreams {
		if u.Name == upstream {
			return u
		}
	}
	t.Fatalf("no upstream %q in %s", upstream, body)
	return contract.UpstreamState{}
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
	cfg.Verification.Interval = &contract.Duration{Duration: time.Hour}
	p := startProxy(t, cfg, WithReloadInterval(0))
	st := p.waitState(t, "echo", func(s contract.UpstreamState) bool { return s.ConsecutiveFailures >= 2 })
	if st.Result != contract.ReasonUnknownAuthority {
		t.Fatalf("state = %+v, want unknown_authority", st)
	}
	if err := dir.Update(map[string][]byte{"ca.crt": f.chain.Root.CertPEM()}); err != nil {
		t.Fatal(err)
	}
	st = p.waitState(t, "echo", func(s contract.UpstreamState) bool { return s.Result == contract.ResultOK })
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
	cfg.Verification.Interval = &contract.Duration{Duration: 100 * time.Millisecond}
	p := startProxy(t, cfg)
	p.waitState(t, "echo", func(s contract.UpstreamState) bool { return s.Result == contract.ResultOK })

	serving.Store(serverTLS(must[*pki.Cert](t)(f.chain.Intermediate.NewLeaf("kong.example"))))
	st := p.waitState(t, "echo", func(s contract.UpstreamState) bool { return s.ConsecutiveFailures >= 2 })
	if st.Result != contract.ReasonHostnameMismatch || !strings.Contains(st.Message, cnOnlyMessage) || st.LastVerifiedAt.IsZero() {
		t.Fatalf("state = %+v", st)
	}
	serving.Store(serverTLS(f.chain.Leaf))
	p.waitState(t, "echo", func(s contract.UpstreamState) bool { return s.Result == contract.ResultOK })
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
	cfg.Verification.Interval = &contract.Duration{Duration: time.Hour}
	p := startProxy(t, cfg)
	p.waitState(t, "echo", func(s contract.UpstreamState) bool { return s.Result == contract.ResultOK })

	serving.Store(serverTLS(f.leaf(t, pki.Expired())))
	p.closeIdle()
	expectStatus(t, p.url("echo", "/"), http.StatusBadGateway, contract.ReasonExpired)
	if st := p.fetchState(t, "echo"); st.Result != contract.ReasonExpired || st.Presented == nil || st.Presented.NotAfter.After(time.Now()) {
		t.Fatalf("state after a failed request = %+v", st)
	}
	serving.Store(serverTLS(f.chain.Leaf))
	expectStatus(t, p.url("echo", "/"), http.StatusOK, "")
	if st := p.fetchState(t, "echo"); st.Result != contract.ResultOK || st.ConsecutiveFailures != 0 {
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
	st := p.waitState(t, "echo", func(s contract.UpstreamState) bool { return s.Result != contract.ResultUnknown })
	if !strings.Contains(st.Message, "cannot load its TLS files: caFiles[0]") || len(st.MaterialErrors) != 1 {
		t.Fatalf("state = %+v", st)
	}
	if rep := p.State(); rep.Revision != "abc123" || rep.CheckInterval.Duration != contract.DefaultCheckInterval {
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
		cfg, err := contract.ParseConfig([]byte(base + tc.extra))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.extra, err)
		case tc.wantErr == "" && cfg.Verification.IntervalOrDefault() != 2*time.Second:
			t.Errorf("%q: interval %v", tc.extra, cfg.Verification.IntervalOrDefault())
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
	for _, s := range []string{"`GET " + contract.StatePath + "`", metricPrefix + "upstream_checks_total", "`verification.interval`", "`revision`",
		"`consecutiveFailures`", "`presented`", "`lastVerifiedAt`", "`materialErrors`"} {
		if !containsLine(doc, s) {
			t.Errorf("docs/proxy.md does not mention %s", s)
		}
	}
	_, example, _ := strings.Cut(doc, "```json\n{\n  \"apiVersion\"")
	example, _, _ = strings.Cut(example, "```")
	dec := json.NewDecoder(strings.NewReader(`{"apiVersion"` + example))
	dec.DisallowUnknownFields()
	var rep contract.StateReport
	if err := dec.Decode(&rep); err != nil || rep.Kind != contract.StateKind || len(rep.Upstreams) != 1 || rep.Upstreams[0].Presented == nil {
		t.Fatalf("the state report example of docs/proxy.md does not decode: %v", err)
	}
}

// TestCheck: Check loads every file and names the field of each one that fails.
func TestCheck(t *testing.T) {
	f := newFixture(t)
	garbage := writeFile(t, t.TempDir(), "garbage.crt", []byte("not PEM"))
	cfg := testConfig("up.svc:443", f.files["root.crt"])
	if w, err := Check(cfg); err != nil || len(w) != 0 {
		t.Fatalf("Check(valid) = %v, %v", w, err)
	}
	cfg.Upstreams[0].TLS.CAFiles = []string{f.files["root.crt"], garbage, filepath.Join(f.dir, "missing.crt")}
	cfg.Upstreams[0].TLS.ClientCertificate = &contract.ClientCertificate{CertFile: f.files["client.crt"], KeyFile: f.files["wrong-client.key"]}
	_, err := Check(cfg)
	for _, want := range []string{
		"upstreams[0].tls.caFiles[1]: " + garbage + ": no PEM certificate found",
		"upstreams[0].tls.caFiles[2]: ",
		"upstreams[0].tls.clientCertificate: ",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check error %v lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "caFiles[0]") {
		t.Errorf("the valid file is reported: %v", err)
	}
}

// TestCheckReportsExpiredMaterial: an expired CA certificate or client certificate loads,
// but Check reports it as a warning naming the field, the file and the date.
func TestCheckReportsExpiredMaterial(t *testing.T) {
	f := newFixture(t)
	oldCA := must[*pki.Cert](t)(pki.NewRoot("old-ca", pki.Expired()))
	oldClient := must[*pki.Cert](t)(f.clientCA.NewLeaf("old-gateway", pki.ClientAuth(), pki.Expired()))
	dir := t.TempDir()
	cfg := testConfig("up.svc:443", f.files["root.crt"])
	cfg.Upstreams[0].TLS.CAFiles = append(cfg.Upstreams[0].TLS.CAFiles, writeFile(t, dir, "old-ca.crt", oldCA.CertPEM()))
	cfg.Upstreams[0].TLS.ClientCertificate = &contract.ClientCertificate{
		CertFile: writeFile(t, dir, "old.crt", oldClient.ChainPEM()), KeyFile: writeFile(t, dir, "old.key", oldClient.KeyPEM())}
	warnings, err := Check(cfg)
	if err != nil {
		t.Fatalf("Check = %v, want only warnings", err)
	}
	all := errors.Join(warnings...)
	for _, want := range []string{
		`upstreams[0].tls.caFiles[1]: ` + dir + `/old-ca.crt: certificate "CN=old-ca" expired at `,
		`upstreams[0].tls.clientCertificate.certFile: ` + dir + `/old.crt: certificate "CN=old-gateway" expired at `,
	} {
		if all == nil || !strings.Contains(all.Error(), want) {
			t.Errorf("warnings %v lack %q", all, want)
		}
	}
	if len(warnings) != 2 {
		t.Errorf("got %d warnings, want 2 (the valid root is not one): %v", len(warnings), all)
	}
}
