package proxy

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
	"github.com/gatewaytenant/gatewaytenant-operator/test/proxy/testutil"
)

func (r *running) waitReloads(t *testing.T, upstream, kind, result string, n float64) {
	t.Helper()
	eventually(t, fmt.Sprintf("reloads_total{%s,%s,%s} = %v", upstream, kind, result, n), func() bool {
		return r.reloads(t, upstream, kind, result) >= n
	})
}

// TestClientCertificateRotation (seeds 003/004): the upstream requires a client
// certificate of its CA; the certificate is replaced the way the kubelet updates a Secret,
// under continuous requests. The new one is used without a restart and no request fails.
func TestClientCertificateRotation(t *testing.T) {
	f := newFixture(t)
	second := must[*pki.Cert](t)(f.clientCA.NewLeaf("gateway-2", pki.ClientAuth()))
	dir := must[*kubelet.Volume](t)(kubelet.WriteVolume(filepath.Join(t.TempDir(), "client"), map[string][]byte{
		"tls.crt": f.client.ChainPEM(), "tls.key": f.client.KeyPEM(),
	}))
	var sawSecond atomic.Bool
	up := startH2Upstream(t, f.requireClientCert(serverTLS(f.chain.Leaf)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS.PeerCertificates[0].SerialNumber.Cmp(second.Cert.SerialNumber) == 0 {
			sawSecond.Store(true)
		}
	}))
	cfg := testConfig(up.Listener.Addr().String(), f.files["root.crt"])
	cfg.Upstreams[0].TLS.ClientCertificate = &contract.ClientCertificate{CertFile: dir.Path("tls.crt"), KeyFile: dir.Path("tls.key")}
	p := startProxy(t, cfg, WithReloadInterval(0))
	l := testutil.StartLoad(t, p.url("echo", "/"), 4)
	l.Progress(t, 20)

	if err := dir.Update(map[string][]byte{"tls.crt": second.ChainPEM(), "tls.key": second.KeyPEM()}); err != nil {
		t.Fatal(err)
	}
	p.waitReloads(t, "echo", kindClient, resultSuccess, 2)
	eventually(t, "the upstream to see the new client certificate", sawSecond.Load)
	l.Progress(t, 20)
	l.Finish(t)
	if !strings.Contains(p.Status().Upstreams["echo"].ClientCertificate, "gateway-2") {
		t.Fatalf("/readyz detail = %+v", p.Status().Upstreams["echo"])
	}
}

// TestCARotation: CA bundle old -> old+new -> new under continuous requests to an
// upstream that moves to the new chain: no request fails. An upstream left on the old
// chain is refused once the old CA is gone, although the proxy held a verified idle
// connection to it.
func TestCARotation(t *testing.T) {
	oldPKI, newPKI := newChain(t), newChain(t)
	caDir := must[*kubelet.Volume](t)(kubelet.WriteVolume(filepath.Join(t.TempDir(), "ca"), map[string][]byte{
		"ca.crt": oldPKI.Root.CertPEM(),
	}))
	var serving atomic.Pointer[tls.Certificate]
	oldCert, newCert := oldPKI.Leaf.TLSCertificate(), newPKI.Leaf.TLSCertificate()
	serving.Store(&oldCert)
	rotated := startUpstream(t, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return serving.Load(), nil
	}}, nil)
	stale := startUpstream(t, serverTLS(oldPKI.Leaf), nil)
	cfg := testConfig(rotated.Addr, caDir.Path("ca.crt"))
	cfg.Upstreams = append(cfg.Upstreams, contract.Upstream{Name: "stale", Listen: "127.0.0.1:0", Address: stale.Addr,
		TLS: &contract.UpstreamTLS{CAFiles: []string{caDir.Path("ca.crt")}, ServerName: "kong.example"}})
	p := startProxy(t, cfg, WithReloadInterval(0))
	l := testutil.StartLoad(t, p.url("echo", "/"), 4)
	l.Progress(t, 20)
	expectStatus(t, p.url("stale", "/"), http.StatusOK, "")

	// old + new; the rotated upstream then moves to the new chain.
	if err := caDir.Update(map[string][]byte{"ca.crt": append(oldPKI.Root.CertPEM(), newPKI.Root.CertPEM()...)}); err != nil {
		t.Fatal(err)
	}
	p.waitReloads(t, "echo", kindCA, resultSuccess, 2)
	p.waitReloads(t, "stale", kindCA, resultSuccess, 2)
	serving.Store(&newCert)
	l.Progress(t, 20)
	expectStatus(t, p.url("stale", "/"), http.StatusOK, "") // pools a connection verified by the old CA

	// new only.
	if err := caDir.Update(map[string][]byte{"ca.crt": newPKI.Root.CertPEM()}); err != nil {
		t.Fatal(err)
	}
	p.waitReloads(t, "echo", kindCA, resultSuccess, 3)
	p.waitReloads(t, "stale", kindCA, resultSuccess, 3)
	l.Progress(t, 20)
	l.Finish(t)
	expectStatus(t, p.url("stale", "/"), http.StatusBadGateway, contract.ReasonUnknownAuthority)
}

func expectStatus(t *testing.T, url string, code int, reason contract.Reason) {
	t.Helper()
	got, body := get(t, url)
	if got != code {
		t.Fatalf("GET %s = %d %s, want %d", url, got, body, code)
	}
	if reason != "" {
		if eb := decodeErrorBody(t, body); eb.Reason != reason {
			t.Fatalf("GET %s: reason %q, want %q", url, eb.Reason, reason)
		}
	}
}

// TestBadReloadKeepsMaterial: a CA file that stops parsing keeps the loaded pool, is
// counted and shown in /readyz, and the proxy stays ready and working.
func TestBadReloadKeepsMaterial(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
	dir := must[*kubelet.Volume](t)(kubelet.WriteVolume(filepath.Join(t.TempDir(), "ca"), map[string][]byte{
		"ca.crt": f.chain.Root.CertPEM(),
	}))
	p := startProxy(t, testConfig(up.Addr, dir.Path("ca.crt")), WithReloadInterval(0))
	expectStatus(t, p.url("echo", "/"), http.StatusOK, "")

	if err := dir.Update(map[string][]byte{"ca.crt": []byte("-----BEGIN CERTIFICATE-----\ngarbage\n")}); err != nil {
		t.Fatal(err)
	}
	p.waitReloads(t, "echo", kindCA, resultFailure, 1)
	expectStatus(t, p.url("echo", "/"), http.StatusOK, "")
	st := p.Status()
	errs := strings.Join(st.Upstreams["echo"].Errors, "\n")
	if !st.Ready || !strings.Contains(errs, "caFiles[0]") || !strings.Contains(errs, "keeping the previously loaded material") {
		t.Fatalf("status after a bad reload = %+v", st)
	}
	code, body := get(t, p.adminURL("/readyz"))
	if code != http.StatusOK || !strings.Contains(string(body), "no PEM certificate found") {
		t.Fatalf("/readyz = %d %s", code, body)
	}

	if err := dir.Update(map[string][]byte{"ca.crt": f.chain.Root.CertPEM()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the error to clear", func() bool { return len(p.Status().Upstreams["echo"].Errors) == 0 })
	if n := p.reloads(t, "echo", kindCA, resultFailure); n != 1 {
		t.Fatalf("failures counted %v times, want 1", n)
	}
}

// TestStartsClosedWithoutMaterial: a CA file that does not exist yet leaves the proxy not
// ready and refusing the upstream (never trusting the system pool instead); the file
// appearing makes it ready.
func TestStartsClosedWithoutMaterial(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
	dir := t.TempDir()
	p := startProxy(t, testConfig(up.Addr, filepath.Join(dir, "ca.crt")), WithReloadInterval(0))
	if code, _ := get(t, p.adminURL("/readyz")); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d before the CA exists, want 503", code)
	}
	expectStatus(t, p.url("echo", "/"), http.StatusBadGateway, contract.ReasonUnknownAuthority)
	if up.hits.Load() != 0 {
		t.Fatal("request reached the upstream")
	}
	writeFile(t, dir, "ca.crt", f.chain.Root.CertPEM())
	eventually(t, "ready", func() bool { return p.Status().Ready })
	expectStatus(t, p.url("echo", "/"), http.StatusOK, "")
}

// TestReloadTriggers: an in-place change is picked up by Reload (SIGHUP) with watching
// and the periodic check off, and by the periodic check alone.
func TestReloadTriggers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []Option
		trigger func(p *running)
	}{
		{"Reload", []Option{WithFileWatch(false), WithReloadInterval(0)}, func(p *running) { p.Reload() }},
		{"periodic check", []Option{WithFileWatch(false), WithReloadInterval(20 * time.Millisecond)}, func(*running) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
			caFile := writeFile(t, t.TempDir(), "ca.crt", f.other.CertPEM())
			p := startProxy(t, testConfig(up.Addr, caFile), tc.opts...)
			expectStatus(t, p.url("echo", "/"), http.StatusBadGateway, contract.ReasonUnknownAuthority)
			if err := os.WriteFile(caFile, f.chain.Root.CertPEM(), 0o600); err != nil {
				t.Fatal(err)
			}
			tc.trigger(p)
			p.waitReloads(t, "echo", kindCA, resultSuccess, 2)
			expectStatus(t, p.url("echo", "/"), http.StatusOK, "")
		})
	}
}
