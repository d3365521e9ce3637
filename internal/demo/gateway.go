package demo

import (
	"fmt"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
)

// GatewayID is the id of the tenants' gateway on the platform (`gwa gateway create` prints
// one like it); every tenant of the story names it.
const GatewayID = "gw-1a2b3"

// gatewayDocument prints the second of the tenant's two commands, the one that publishes the
// generated service definition to the gateway, with what it publishes, and reads that as
// `gwa apply -i -` would. It fails when the document is not what the gateway must call: one
// service per upstream that has a gateway address, at that address.
func (s *Story) gatewayDocument(t *v1alpha1.GatewayTenant) ([]gatewaytenant.GatewayService, error) {
	p := s.p()
	p.line("=> the gateway's service definition is generated; the tenant publishes it as it stands:")
	p.line("$ kubectl get gatewaytenant %s -n %s -o jsonpath='{.status.gatewayConfig}' | gwa apply -i -", t.Name, t.Namespace)
	p.block(t.Status.GatewayConfig)
	svcs, err := gatewaytenant.ReadGatewayConfig(t.Status.GatewayConfig)
	if err != nil {
		return nil, fmt.Errorf("status.gatewayConfig of GatewayTenant %s is not what gwa apply reads: %w", t.Name, err)
	}
	var addressed []v1alpha1.UpstreamStatus
	for _, u := range t.Status.Upstreams {
		if u.GatewayHost != "" {
			addressed = append(addressed, u)
		}
	}
	if len(svcs) != len(addressed) {
		return nil, fmt.Errorf("status.gatewayConfig of GatewayTenant %s has %d services, status.upstreams %d with a gateway address",
			t.Name, len(svcs), len(addressed))
	}
	for i, u := range addressed {
		if svcs[i].Name != u.Name || svcs[i].Host != u.GatewayHost || svcs[i].Port != u.GatewayPort {
			return nil, fmt.Errorf("status.gatewayConfig of GatewayTenant %s names %s at %s:%d, status.upstreams %s at %s:%d",
				t.Name, svcs[i].Name, svcs[i].Host, svcs[i].Port, u.Name, u.GatewayHost, u.GatewayPort)
		}
	}
	return svcs, nil
}
