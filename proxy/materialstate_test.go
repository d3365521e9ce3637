package proxy

import (
	"net/http"
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

// materialOf is the state report's material of the upstream echo, by field.
func materialOf(p *Proxy) map[string]contract.MaterialState {
	out := map[string]contract.MaterialState{}
	for _, m := range p.State().Upstreams[0].Material {
		out[m.Field] = m
	}
	return out
}

// TestMaterialReport: every problem a tenant's Secret can have, as the mount shows it, is in
// the state report in the contract's words, with what the proxy loaded.
func TestMaterialReport(t *testing.T) {
	f := newFixture(t)
	expired := must[*pki.Cert](t)(f.clientCA.NewLeaf("old", pki.ClientAuth(), pki.Expired()))
	soon := must[*pki.Cert](t)(f.clientCA.NewLeaf("soon", pki.ClientAuth(), pki.Validity(time.Now().Add(-time.Hour), time.Now().Add(48*time.Hour))))
	for _, tc := range []struct {
		name    string
		files   map[string][]byte // the client volume: tls.crt and tls.key
		problem contract.MaterialProblem
		missing []string
		message string
	}{
		{"valid", map[string][]byte{"tls.crt": f.client.ChainPEM(), "tls.key": f.client.KeyPEM()}, "", nil, ""},
		{"Secret missing", map[string][]byte{}, contract.MaterialMissing, []string{"tls.crt", "tls.key"}, "no such file"},
		{"no tls.key", map[string][]byte{"tls.crt": f.client.ChainPEM()}, contract.MaterialMissing, []string{"tls.key"}, "no such file"},
		{"not PEM", map[string][]byte{"tls.crt": []byte("x"), "tls.key": f.client.KeyPEM()}, contract.MaterialNotPEM, nil, "no PEM certificate found"},
		{"key mismatch", map[string][]byte{"tls.crt": f.client.ChainPEM(), "tls.key": f.wrongClient.KeyPEM()}, contract.MaterialKeyMismatch, nil,
			`private key does not match public key of certificate "gateway"`},
		{"expired", map[string][]byte{"tls.crt": expired.ChainPEM(), "tls.key": expired.KeyPEM()}, contract.MaterialExpired, nil, `certificate "old" expired at`},
		{"expiring soon", map[string][]byte{"tls.crt": soon.ChainPEM(), "tls.key": soon.KeyPEM()}, contract.MaterialExpiringSoon, nil, `certificate "soon" expires at`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vol := must[*kubelet.Volume](t)(kubelet.WriteVolume(filepath.Join(t.TempDir(), "client"), tc.files))
			cfg := testConfig("127.0.0.1:1", f.files["root.crt"])
			cfg.Upstreams[0].TLS.ClientCertificate = &contract.ClientCertificate{CertFile: vol.Path("tls.crt"), KeyFile: vol.Path("tls.key")}
			p := must[*Proxy](t)(New(cfg))
			t.Cleanup(p.closeListeners)
			m := materialOf(p)
			ca, client := m["caFiles[0]"], m["clientCertificate"]
			if ca.Problem != "" || ca.Kind != contract.MaterialCA || ca.Loaded == nil || ca.Loaded.Subject != "CN=root" {
				t.Errorf("CA material = %+v", ca)
			}
			var missing []string
			for _, f := range tc.missing {
				missing = append(missing, vol.Path(f))
			}
			if client.Problem != tc.problem || strings.Join(client.Missing, ",") != strings.Join(missing, ",") || !strings.Contains(client.Message, tc.message) {
				t.Errorf("client material = %+v; want problem %q, missing %v, message with %q", client, tc.problem, missing, tc.message)
			}
			if loads := !tc.problem.Failed() || tc.problem == contract.MaterialExpired; loads != (client.Loaded != nil) {
				t.Errorf("loaded = %+v, want loaded %v", client.Loaded, loads)
			}
		})
	}
}

// TestMaterialReportCA: a CA Secret that holds the upstream's own certificate, or nothing the
// proxy can use, is reported per file; a CA that parses keeps serving from its file.
func TestMaterialReportCA(t *testing.T) {
	f := newFixture(t)
	leaf := writeFile(t, t.TempDir(), "leaf.crt", f.chain.Leaf.CertPEM())
	garbage := writeFile(t, t.TempDir(), "garbage.crt", []byte("not a certificate"))
	cfg := testConfig("127.0.0.1:1", f.files["root.crt"])
	cfg.Upstreams[0].TLS.CAFiles = append(cfg.Upstreams[0].TLS.CAFiles, leaf, garbage, filepath.Join(t.TempDir(), "absent.crt"))
	p := must[*Proxy](t)(New(cfg))
	t.Cleanup(p.closeListeners)
	m := materialOf(p)
	for field, want := range map[string]contract.MaterialProblem{
		"caFiles[0]": "", "caFiles[1]": contract.MaterialNotCA, "caFiles[2]": contract.MaterialNotPEM, "caFiles[3]": contract.MaterialMissing,
	} {
		if got := m[field]; got.Problem != want || got.Loaded != nil {
			t.Errorf("%s = %+v, want problem %q and nothing loaded (the pool loads all files or none)", field, got, want)
		}
	}
	if msg := m["caFiles[1]"].Message; !strings.Contains(msg, `certificate "kong.example" is not a CA certificate`) {
		t.Errorf("not-a-CA message %q", msg)
	}
}

// TestReadyWhileAnotherUpstreamLacksMaterial: an upstream whose client certificate does not
// load fails closed on its own; the proxy stays ready for the others, and is not ready only
// when no upstream has its material.
func TestReadyWhileAnotherUpstreamLacksMaterial(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
	cfg := testConfig(up.Addr, f.files["root.crt"])
	broken := cfg.Upstreams[0]
	broken.Name, broken.TLS = "broken", &contract.UpstreamTLS{CAFiles: broken.TLS.CAFiles, ServerName: "kong.example",
		ClientCertificate: &contract.ClientCertificate{CertFile: filepath.Join(t.TempDir(), "tls.crt"), KeyFile: filepath.Join(t.TempDir(), "tls.key")}}
	cfg.Upstreams = append(cfg.Upstreams, broken)
	p := startProxy(t, cfg, WithReloadInterval(0))
	if st := p.Status(); !st.Ready || st.Upstreams["broken"].Ready || !st.Upstreams["echo"].Ready {
		t.Fatalf("status = %+v: want ready, with upstream broken not ready", st)
	}
	expectStatus(t, p.url("echo", "/"), http.StatusOK, "")

	alone := testConfig(up.Addr, f.files["root.crt"])
	alone.Upstreams[0].TLS.ClientCertificate = broken.TLS.ClientCertificate
	if q := startProxy(t, alone, WithReloadInterval(0)); q.Status().Ready {
		t.Fatal("a proxy none of whose upstreams has its material is ready")
	}
}

// TestCredentialBundleRotation: the client identity comes from a pod certificate's credential
// bundle (key and chain in one file), laid out and swapped as the kubelet does. A new bundle is
// used under continuous requests without one failing; a broken bundle keeps the identity that
// loaded, and says why in the state report.
func TestCredentialBundleRotation(t *testing.T) {
	f := newFixture(t)
	first := must[*pki.Cert](t)(f.clientCA.NewLeaf("pod-a", pki.ClientAuth(), pki.Validity(time.Now().Add(-time.Minute), time.Now().Add(24*time.Hour))))
	second := must[*pki.Cert](t)(f.clientCA.NewLeaf("pod-a-2", pki.ClientAuth()))
	vol := must[*kubelet.Volume](t)(kubelet.WriteVolume(filepath.Join(t.TempDir(), "client"), map[string][]byte{"credential-bundle.pem": first.CredentialBundlePEM()}))
	var last atomic.Value
	up := startH2Upstream(t, f.requireClientCert(serverTLS(f.chain.Leaf)), http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		last.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	cfg := testConfig(up.Listener.Addr().String(), f.files["root.crt"])
	cfg.Upstreams[0].TLS.ClientCertificate = &contract.ClientCertificate{CredentialBundleFile: vol.Path("credential-bundle.pem")}
	p := startProxy(t, cfg, WithReloadInterval(0))
	client := materialOf(p.Proxy)["clientCertificate.credentialBundleFile"]
	if client.Problem != "" || client.Loaded == nil || client.Loaded.Subject != "CN=pod-a" {
		t.Fatalf("a 24-hour pod certificate with nearly all its life left: %+v", client)
	}
	l := testutil.StartLoad(t, p.url("echo", "/"), 4)

	if err := vol.Update(map[string][]byte{"credential-bundle.pem": second.CredentialBundlePEM()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the upstream to see the rotated pod certificate", func() bool { return last.Load() == "pod-a-2" })
	l.Progress(t, 20)

	if err := vol.Update(map[string][]byte{"credential-bundle.pem": append(second.KeyPEM(), f.client.ChainPEM()...)}); err != nil {
		t.Fatal(err)
	}
	p.waitReloads(t, "echo", kindClient, resultFailure, 1)
	l.Progress(t, 20)
	l.Finish(t)
	if last.Load() != "pod-a-2" {
		t.Fatalf("the upstream saw %v after a broken bundle, want the identity that loaded before", last.Load())
	}
	client = materialOf(p.Proxy)["clientCertificate.credentialBundleFile"]
	if client.Problem != contract.MaterialKeyMismatch || client.Loaded.Subject != "CN=pod-a-2" ||
		!strings.Contains(client.Message, "keeping the previously loaded material") {
		t.Fatalf("after a broken bundle: %+v", client)
	}
}

// TestPodCertificateExpiryWindow: a pod certificate is expiring once less than a quarter of
// its lifetime is left, though that is well within the 30-day window.
func TestPodCertificateExpiryWindow(t *testing.T) {
	f := newFixture(t)
	late := must[*pki.Cert](t)(f.clientCA.NewLeaf("late", pki.ClientAuth(), pki.Validity(time.Now().Add(-20*time.Hour), time.Now().Add(4*time.Hour))))
	bundle := writeFile(t, t.TempDir(), "bundle.pem", late.CredentialBundlePEM())
	cfg := testConfig("127.0.0.1:1", f.files["root.crt"])
	cfg.Upstreams[0].TLS.ClientCertificate = &contract.ClientCertificate{CredentialBundleFile: bundle}
	p := must[*Proxy](t)(New(cfg))
	t.Cleanup(p.closeListeners)
	if got := materialOf(p)["clientCertificate.credentialBundleFile"]; got.Problem != contract.MaterialExpiringSoon {
		t.Fatalf("a 24-hour pod certificate with 4 hours left: %+v", got)
	}
	cfg.Verification.ExpiryWarning = &contract.Duration{Duration: time.Hour}
	q := must[*Proxy](t)(New(cfg))
	t.Cleanup(q.closeListeners)
	if got := materialOf(q)["clientCertificate.credentialBundleFile"]; got.Problem != "" {
		t.Fatalf("with a one-hour expiryWarning, 4 hours left: %+v", got)
	}
}
