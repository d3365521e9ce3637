package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/proxyrun"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
	"github.com/gatewaytenant/gatewaytenant-operator/test/proxy/testutil"
)

// rotatingUpstream is an mTLS upstream whose serving chain can be switched, that closes every
// connection after its answer (so each request is a fresh handshake of the proxy against its
// current CA bundle and client certificate), and that records the client certificate it saw
// last.
type rotatingUpstream struct {
	serving    atomic.Pointer[tls.Certificate]
	handshakes atomic.Int64
	lastClient atomic.Value // string: common name of the last client certificate
	addr       string
}

func startRotatingUpstream(t *testing.T, chain *pki.Chain, clientCA *pki.Cert) *rotatingUpstream {
	u := &rotatingUpstream{}
	u.serve(chain)
	cfg := &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			u.handshakes.Add(1)
			return u.serving.Load(), nil
		},
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  clientCA.Pool(),
		// Resuming a session would skip the new chain: each handshake is a full one.
		SessionTicketsDisabled: true,
	}
	u.addr = testutil.TLSServer(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.lastClient.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "ok")
	})).Listener.Addr().String()
	return u
}

func (u *rotatingUpstream) serve(chain *pki.Chain) {
	c := chain.Leaf.TLSCertificate()
	u.serving.Store(&c)
}

func (u *rotatingUpstream) sawClient(cn string) bool {
	last, _ := u.lastClient.Load().(string)
	return last == cn
}

// TestRotationThroughKubeletVolume rotates the upstream's CA and the client certificate
// three times in a row, the way the operator's pod receives them: one projected volume at
// /etc/gatewaytenant/upstreams/<name> with the nested items ca-0/ca.crt, client/tls.crt and
// client/tls.key, updated by the kubelet swapping "..data" at the volume root. Each rotation
// is the safe order: trust the old and new roots, switch the upstream to the new chain,
// then trust only the new root and present a new client certificate. A steady request loop
// through the proxy runs the whole time; not one request may fail.
func TestRotationThroughKubeletVolume(t *testing.T) {
	clientCA := must[*pki.Cert](t)(pki.NewRoot("client-ca"))
	chain := must[*pki.Chain](t)(pki.NewChain())
	client := must[*pki.Cert](t)(clientCA.NewLeaf("gateway-0", pki.ClientAuth()))
	up := startRotatingUpstream(t, chain, clientCA)

	payload := func(roots []*pki.Cert, client *pki.Cert) map[string][]byte {
		var bundle []byte
		for _, r := range roots {
			bundle = append(bundle, r.CertPEM()...)
		}
		return map[string][]byte{"ca-0/ca.crt": bundle, "client/tls.crt": client.ChainPEM(), "client/tls.key": client.KeyPEM()}
	}
	vol := must[*kubelet.Volume](t)(kubelet.WriteVolume(filepath.Join(t.TempDir(), "upstreams", "api"), payload([]*pki.Cert{chain.Root}, client)))
	config := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(config, []byte(configYAML("0s", upstreamYAML("api", up.addr, vol.Path("ca-0/ca.crt"),
		fmt.Sprintf("clientCertificate: {certFile: %q, keyFile: %q}", vol.Path("client/tls.crt"), vol.Path("client/tls.key"))))), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDebugProxy(t, config)
	ctx := context.Background()
	if _, err := p.WaitReady(ctx, time.Minute, "api"); err != nil {
		t.Fatal(err)
	}

	load := testutil.StartLoad(t, p.URL("api", "/"), 4)
	ready := func(what string, cond func(contract.UpstreamStatus) bool) {
		t.Helper()
		testutil.Eventually(t, what, func() bool {
			_, st, err := p.Ready(ctx)
			return err == nil && cond(st.Upstreams["api"])
		})
	}
	// served waits for cond, and for ten more handshakes and ten more answered requests.
	served := func(what string, cond func() bool) {
		t.Helper()
		mark, ok := up.handshakes.Load(), load.OK()
		testutil.Eventually(t, what, func() bool { return cond() && up.handshakes.Load() > mark+10 && load.OK() > ok+10 })
	}

	served("requests before any rotation", func() bool { return up.sawClient("gateway-0") })
	for i := 1; i <= 3; i++ {
		next := must[*pki.Chain](t)(pki.NewChain())
		nextClient := must[*pki.Cert](t)(clientCA.NewLeaf(fmt.Sprintf("gateway-%d", i), pki.ClientAuth()))

		if err := vol.Update(payload([]*pki.Cert{chain.Root, next.Root}, client)); err != nil {
			t.Fatal(err)
		}
		ready(fmt.Sprintf("rotation %d: the old and the new root loaded", i), func(u contract.UpstreamStatus) bool {
			return strings.HasPrefix(u.CA, "2 CA certificate(s)") && len(u.Errors) == 0
		})
		up.serve(next)
		served(fmt.Sprintf("rotation %d: requests to the upstream serving the new chain", i), func() bool { return true })

		if err := vol.Update(payload([]*pki.Cert{next.Root}, nextClient)); err != nil {
			t.Fatal(err)
		}
		ready(fmt.Sprintf("rotation %d: only the new root loaded", i), func(u contract.UpstreamStatus) bool {
			return strings.HasPrefix(u.CA, "1 CA certificate(s)") && len(u.Errors) == 0
		})
		served(fmt.Sprintf("rotation %d: the upstream sees client certificate gateway-%d", i, i), func() bool {
			return up.sawClient(fmt.Sprintf("gateway-%d", i))
		})
		chain, client = next, nextClient
	}
	load.Finish(t)
	t.Logf("%d requests, none failed, over 3 rotations of the CA and the client certificate", load.OK())
}

// startDebugProxy runs the proxy binary on config at debug level, stops it when the test
// ends, and prints its log if the test failed.
func startDebugProxy(t *testing.T, config string) *proxyrun.Process {
	t.Helper()
	log := &testutil.SyncBuffer{}
	p := must[*proxyrun.Process](t)(proxyrun.Start(binary, config, log, "--log-level", "debug"))
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stopping the proxy: %v", err)
		}
		if t.Failed() {
			t.Logf("proxy log:\n%s", log.String())
		}
	})
	return p
}
