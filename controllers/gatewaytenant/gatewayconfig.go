package gatewaytenant

// The gateway's service definition of a tenant's upstreams, as a pure function of what the
// status says the gateway must call: status.gatewayConfig, in the format of the data plane's
// spec.gatewayService. For the reference platform that is one `kind: GatewayService` document
// per upstream, as the gwa CLI's `gwa apply -i` reads them (docs/gateway-config.md cites the
// format). Routes are the tenant's: none is invented.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// GatewayServiceKind is the kind of every document of status.gatewayConfig in the
// GatewayService format.
const GatewayServiceKind = "GatewayService"

// GatewayService is one document of status.gatewayConfig in the GatewayService format: one
// upstream as the gateway must call it. The fields are in the order the platform's documents
// show them.
type GatewayService struct {
	Kind     string   `yaml:"kind"`
	Name     string   `yaml:"name"`
	Tags     []string `yaml:"tags,flow,omitempty"`
	Host     string   `yaml:"host"`
	Port     int32    `yaml:"port"`
	Protocol string   `yaml:"protocol"`
}

// gatewayConfig is status.gatewayConfig of a tenant that names gatewayID, whose data plane
// resolved as dp and whose status lists upstreams: every upstream with a gateway address, as
// the data plane wants it described. Empty when the data plane did not resolve or wants no
// document.
func gatewayConfig(gatewayID string, dp dataPlaneResult, upstreams []v1alpha1.UpstreamStatus) string {
	if !dp.accepted() || dp.plane.Spec.GatewayService == nil {
		return ""
	}
	return renderGatewayServices(gatewayServices(dp.plane.Spec.GatewayService, gatewayID, dp.dataClass, upstreams))
}

// protocolGatewayTLS is the protocol of a TLS upstream the gateway verifies itself through a
// BackendTLSPolicy (its status has a BackendTLSPolicyAccepted condition): it speaks TLS to
// the upstream's Service, not the data plane's protocol to a proxy.
const protocolGatewayTLS = "https"

// gatewayServices describes each upstream that has a gateway address: its name, the host and
// port the gateway must call (the upstream Service, or the tenant's proxy for a TLS upstream:
// status.upstreams already says which), the data plane's protocol (https for a TLS upstream
// the gateway verifies), and the tags of the tenant's gateway and data class. An upstream without an address (invalid) is left out, as
// status.upstreams leaves it without one.
func gatewayServices(gs *v1alpha1.GatewayServiceSpec, gatewayID string, class *v1alpha1.DataClass, upstreams []v1alpha1.UpstreamStatus) []GatewayService {
	var tags []string
	if gatewayID != "" {
		tags = append(tags, strings.ReplaceAll(gs.NamespaceTag, v1alpha1.GatewayIDPlaceholder, gatewayID))
	}
	if class != nil && gs.DataClass != nil {
		tags = append(tags, strings.ReplaceAll(gs.DataClass.Tag, v1alpha1.DataClassPlaceholder, string(class.Name)))
	}
	var out []GatewayService
	for _, u := range upstreams {
		if u.GatewayHost == "" || u.GatewayPort == 0 {
			continue
		}
		protocol := gs.Protocol
		if meta.FindStatusCondition(u.Conditions, v1alpha1.ConditionBackendTLSPolicyAccepted) != nil {
			protocol = protocolGatewayTLS // the gateway itself speaks TLS to it
		}
		out = append(out, GatewayService{
			Kind: GatewayServiceKind, Name: u.Name, Tags: tags,
			Host: u.GatewayHost, Port: u.GatewayPort, Protocol: protocol,
		})
	}
	return out
}

// renderGatewayServices writes one YAML document per service, separated by "---".
func renderGatewayServices(svcs []GatewayService) string {
	if len(svcs) == 0 {
		return ""
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, s := range svcs {
		if err := enc.Encode(s); err != nil {
			panic(fmt.Sprintf("gatewaytenant: encoding a GatewayService: %v", err)) // plain data always encodes
		}
	}
	if err := enc.Close(); err != nil {
		panic(fmt.Sprintf("gatewaytenant: encoding GatewayServices: %v", err))
	}
	return buf.String()
}

// ReadGatewayConfig reads status.gatewayConfig as `gwa apply -i` reads its input: a stream of
// YAML documents, each with a kind; those of kind GatewayService are the gateway's services.
// It refuses what the operator never writes (another kind, an unknown field), so that a test
// or a script relying on it notices a change of format.
func ReadGatewayConfig(config string) ([]GatewayService, error) {
	dec := yaml.NewDecoder(strings.NewReader(config))
	dec.KnownFields(true)
	var out []GatewayService
	for i := 0; ; i++ {
		var s GatewayService
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if s.Kind != GatewayServiceKind {
			return nil, fmt.Errorf("document %d: kind %q, want %s", i, s.Kind, GatewayServiceKind)
		}
		out = append(out, s)
	}
}
