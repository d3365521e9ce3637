package proxy

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// TestWatchFollowsKubeletSwapsOfNestedItems: the operator mounts an upstream's CA bundle and
// client certificate as nested items of one volume (ca-0/ca.crt, client/tls.crt), so the
// directory of each file is a symlink through "..data" into a directory the kubelet deletes
// on every update. The file watch alone (no periodic check) must see every update, not only
// the first.
func TestWatchFollowsKubeletSwapsOfNestedItems(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
	payload := func(client *pki.Cert) map[string][]byte {
		return map[string][]byte{
			"ca-0/ca.crt": f.chain.Root.CertPEM(), "client/tls.crt": client.ChainPEM(), "client/tls.key": client.KeyPEM(),
		}
	}
	vol := must[*kubelet.Volume](t)(kubelet.WriteVolume(filepath.Join(t.TempDir(), "api"), payload(f.client)))
	cfg := testConfig(up.Addr, vol.Path("ca-0/ca.crt"))
	cfg.Upstreams[0].TLS.ClientCertificate = &contract.ClientCertificate{CertFile: vol.Path("client/tls.crt"), KeyFile: vol.Path("client/tls.key")}
	p := startProxy(t, cfg, WithReloadInterval(0))
	p.waitReloads(t, "echo", kindClient, resultSuccess, 1)

	for i := 1; i <= 3; i++ {
		next := must[*pki.Cert](t)(f.clientCA.NewLeaf(fmt.Sprintf("gateway-%d", i), pki.ClientAuth()))
		if err := vol.Update(payload(next)); err != nil {
			t.Fatal(err)
		}
		p.waitReloads(t, "echo", kindClient, resultSuccess, float64(1+i))
	}
}
