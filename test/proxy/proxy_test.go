package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/test/proxy/testutil"
)

func chainServer(t *testing.T, chain *pki.Chain) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{chain.Leaf.TLSCertificate()}}
}

// TestCheckMode: --check exits 0 on a valid configuration whose files load, and 1 with
// field-named errors otherwise.
func TestCheckMode(t *testing.T) {
	chain := must[*pki.Chain](t)(pki.NewChain())
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.crt", chain.Root.CertPEM())
	oldCA := writeFile(t, dir, "old-ca.crt", must[*pki.Cert](t)(pki.NewRoot("old-ca", pki.Expired())).CertPEM())
	cases := []struct {
		desc     string
		config   string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"valid", configYAML("5s", upstreamYAML("a", "a.ns.svc:8443", ca, "verifyDepth: 1")), nil, 0, "configuration is valid (1 upstream(s), 0 warning(s))"},
		{"verifyDepth out of range", configYAML("5s", upstreamYAML("a", "a.ns.svc:8443", ca, "verifyDepth: 11")), nil, 1,
			"upstreams[0].tls.verifyDepth: must be between 0 and 10"},
		{"CA file missing", configYAML("5s", upstreamYAML("a", "a.ns.svc:8443", filepath.Join(dir, "nope.crt"), "")), nil, 1,
			"upstreams[0].tls.caFiles[0]: " + filepath.Join(dir, "nope.crt")},
		{"skip verify does not exist", configYAML("5s", upstreamYAML("a", "a.ns.svc:8443", ca, "insecureSkipVerify: true")), nil, 1,
			"upstreams[0].tls.insecureSkipVerify: unknown field"},
		{"expired CA is a warning", configYAML("5s", upstreamYAML("a", "a.ns.svc:8443", oldCA, "")), nil, 0,
			`warning: upstreams[0].tls.caFiles[0]: ` + oldCA + `: certificate "CN=old-ca" expired at `},
		{"expired CA with --strict", configYAML("5s", upstreamYAML("a", "a.ns.svc:8443", oldCA, "")), []string{"--strict"}, 1,
			`warning: upstreams[0].tls.caFiles[0]: ` + oldCA + `: certificate "CN=old-ca" expired at `},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "proxy.yaml")
			if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binary, append([]string{"--config", path, "--check"}, tc.args...)...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tc.wantCode || !strings.Contains(string(out), tc.wantOut) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tc.wantCode, tc.wantOut)
			}
		})
	}
}

// TestRootIntermediateLeafChain runs a root -> intermediate -> leaf chain through the binary:
// the leaf (kong.example), served with its intermediate, passes with verifyDepth 1 and fails
// with 0, with the JSON answer and the metric.
func TestRootIntermediateLeafChain(t *testing.T) {
	chain := must[*pki.Chain](t)(pki.NewChain())
	var hits atomic.Int64
	addr := tlsUpstream(t, chainServer(t, chain), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "Through HTTPS connection.")
	}))
	ca := writeFile(t, t.TempDir(), "ca.crt", chain.Root.CertPEM())
	p := startProcess(t, configYAML("0s",
		upstreamYAML("depth-one", addr, ca, "verifyDepth: 1"),
		upstreamYAML("depth-zero", addr, ca, "verifyDepth: 0")), 3)

	if code, body := get(t, p.url("depth-one", "/echo")); code != 200 || string(body) != "Through HTTPS connection." {
		t.Fatalf("verifyDepth 1: %d %s", code, body)
	}
	code, body := get(t, p.url("depth-zero", "/echo"))
	var eb map[string]string
	if err := json.Unmarshal(body, &eb); err != nil || code != http.StatusBadGateway ||
		eb["reason"] != "chain_too_deep" || eb["upstream"] != "depth-zero" || eb["request_id"] == "" || eb["message"] == "" {
		t.Fatalf("verifyDepth 0: %d %s", code, body)
	}
	if hits.Load() != 1 {
		t.Fatalf("upstream handler hits = %d, want 1 (the refused request must not arrive)", hits.Load())
	}
	if v := p.metric(t, `gatewaytenant_proxy_upstream_handshake_failures_total{reason="chain_too_deep",upstream="depth-zero"}`); v != 1 {
		t.Fatalf("chain_too_deep failures = %v, want 1", v)
	}
	if code, body := get(t, p.url("admin", "/readyz")); code != 200 || !strings.Contains(string(body), `"ready": true`) {
		t.Fatalf("/readyz = %d %s", code, body)
	}
}

// TestClientCertificateRotation (seeds 003/004) through the binary: the client
// certificate Secret is updated the kubelet way under continuous requests; the reload is
// seen in the metrics, the upstream gets the new certificate, no request fails.
func TestClientCertificateRotation(t *testing.T) {
	chain := must[*pki.Chain](t)(pki.NewChain())
	clientCA := must[*pki.Cert](t)(pki.NewRoot("client-ca"))
	first := must[*pki.Cert](t)(clientCA.NewLeaf("gateway-1", pki.ClientAuth()))
	second := must[*pki.Cert](t)(clientCA.NewLeaf("gateway-2", pki.ClientAuth()))
	serverCfg := chainServer(t, chain)
	serverCfg.ClientAuth, serverCfg.ClientCAs = tls.RequireAndVerifyClientCert, clientCA.Pool()
	var sawSecond atomic.Bool
	addr := tlsUpstream(t, serverCfg, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if r.TLS.PeerCertificates[0].Subject.CommonName == "gateway-2" {
			sawSecond.Store(true)
		}
	}))
	dir := t.TempDir()
	secret := must[*kubelet.Volume](t)(kubelet.WriteVolume(filepath.Join(dir, "client"), map[string][]byte{
		"tls.crt": first.ChainPEM(), "tls.key": first.KeyPEM(),
	}))
	ca := writeFile(t, dir, "ca.crt", chain.Root.CertPEM())
	p := startProcess(t, configYAML("0s", upstreamYAML("mtls", addr, ca, fmt.Sprintf(
		"clientCertificate: {certFile: %q, keyFile: %q}", secret.Path("tls.crt"), secret.Path("tls.key")))), 2)

	load := testutil.StartLoad(t, p.url("mtls", "/"), 4)
	load.Progress(t, 20)
	if err := secret.Update(map[string][]byte{"tls.crt": second.ChainPEM(), "tls.key": second.KeyPEM()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reload", func() bool {
		return p.metric(t, `gatewaytenant_proxy_reloads_total{kind="client",result="success",upstream="mtls"}`) == 2
	})
	eventually(t, "the upstream to see the new certificate", sawSecond.Load)
	load.Progress(t, 20)
	load.Finish(t)
}

// TestSIGTERMDrain: slow requests in flight when SIGTERM arrives all complete: readiness
// turns false, the listener stops accepting after the drain delay, the requests finish,
// and the process exits 0.
func TestSIGTERMDrain(t *testing.T) {
	chain := must[*pki.Chain](t)(pki.NewChain())
	const inFlight = 5
	var entered atomic.Int64
	release := make(chan struct{})
	addr := tlsUpstream(t, chainServer(t, chain), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		entered.Add(1)
		<-release
		_, _ = io.WriteString(w, "done")
	}))
	ca := writeFile(t, t.TempDir(), "ca.crt", chain.Root.CertPEM())
	p := startProcess(t, configYAML("1s", upstreamYAML("slow", addr, ca, "")), 2)

	results := make(chan string, inFlight)
	for range inFlight {
		go func() {
			resp, err := client.Get(p.url("slow", "/"))
			if err != nil {
				results <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			results <- fmt.Sprintf("%d %s", resp.StatusCode, body)
		}()
	}
	eventually(t, "requests in flight", func() bool { return entered.Load() == inFlight })
	p.signal(t, syscall.SIGTERM)
	eventually(t, "readiness false", func() bool { code, _ := get(t, p.url("admin", "/readyz")); return code == 503 })
	eventually(t, "the listener to stop accepting", func() bool {
		return strings.Contains(p.stderr.String(), "draining: stopped accepting")
	})
	if c, err := net.Dial("tcp", strings.TrimPrefix(p.url("slow", ""), "http://")); err == nil {
		_ = c.Close()
		t.Fatal("the listener still accepts after the drain delay")
	}
	close(release)
	for range inFlight {
		if r := <-results; r != "200 done" {
			t.Fatalf("in-flight request got %q", r)
		}
	}
	<-p.exited
	if p.exitCode != 0 || !strings.Contains(p.stderr.String(), "msg=drained") {
		t.Fatalf("exit code %d; stderr:\n%s", p.exitCode, p.stderr.String())
	}
}
