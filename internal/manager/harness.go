package manager

import (
	"context"
	"net"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
)

// Harness holds the seams of the tests and the demo, which run the real manager in one
// process against a local control plane and proxies on loopback. None of them is a product
// option: cmd/manager sets none, and a nil *Harness means the manager as it runs in a cluster.
type Harness struct {
	// SecondManager lets another manager start in the same process after one stopped
	// (controller-runtime refuses a controller name twice by default).
	SecondManager bool
	// NewClient, when set, builds the manager's client (tests wrap it to count writes).
	NewClient client.NewClientFunc
	// ProxyAdminPort, when set, is the port the proxies' state is read from instead of the
	// one the operator renders (proxies on loopback cannot all have it).
	ProxyAdminPort int
	// DialProxy, when set, connects to a proxy pod's address (pod addresses, which the API
	// server refuses on loopback, are mapped to loopback ones).
	DialProxy func(ctx context.Context, network, address string) (net.Conn, error)
	// ReferencedConfigMaps, when set, is given the cache of the ConfigMaps tenants reference
	// (tests assert what it holds).
	ReferencedConfigMaps func(cache.Cache)
}

func (h *Harness) secondManager() bool { return h != nil && h.SecondManager }

func (h *Harness) newClient() client.NewClientFunc {
	if h == nil {
		return nil
	}
	return h.NewClient
}

func (h *Harness) referencedConfigMaps(c cache.Cache) {
	if h != nil && h.ReferencedConfigMaps != nil {
		h.ReferencedConfigMaps(c)
	}
}

// reachProxies points the poller at the harness's proxies.
func (h *Harness) reachProxies(p *proxystate.Poller) {
	if h == nil {
		return
	}
	p.AdminPort = h.ProxyAdminPort
	if h.DialProxy != nil {
		p.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: h.DialProxy}}
	}
}
