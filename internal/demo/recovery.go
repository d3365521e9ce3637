package demo

// Steps 3d and 3e: the tenant fixes what it got wrong and sees its upstream verified again,
// and an upstream certificate with only a common name is reported as such.

import (
	"context"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/yaml"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// RecoveryResult is what a step observed once the tenant was verified again.
type RecoveryResult struct {
	// Failed is the tenant while the upstream failed verification (step 3e only).
	Failed *v1alpha1.GatewayTenant
	// Tenant is the tenant once verified again.
	Tenant *v1alpha1.GatewayTenant
	// Status is the HTTP status of a request through the proxy once verified again.
	Status int
}

// RightCA is step 3d: the tenant points the CA reference back at the root that issued the
// upstream's chain; the proxy rolls out, verifies it, and the tenant is Ready again.
func (s *Story) RightCA(ctx context.Context) (*RecoveryResult, error) {
	p := s.p()
	p.step("3d. The right CA again: the tenant recovers")
	patch := `{"op":"replace","path":"/spec/upstreams/0/tls/validation/caCertificateRefs","value":[{"kind":"ConfigMap","name":"` + CAConfigMap + `"}]}`
	if err := s.patchTLS(ctx, patch, func(t *v1alpha1.UpstreamTLS) {
		t.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Kind: "ConfigMap", Name: CAConfigMap}}
	}); err != nil {
		return nil, err
	}
	r, err := s.rendered(ctx, func(r *Rendered) bool { return projects(r.Deployment, CAConfigMap) })
	if err != nil {
		return nil, err
	}
	s.showRoll(r)
	if _, err := s.rollOut(ctx, r); err != nil {
		return nil, err
	}
	if _, err := s.proxyAvailable(ctx, r); err != nil {
		return nil, err
	}
	return s.recovered(ctx, "demo-right-ca")
}

// CommonNameOnly is step 3e: the upstream starts presenting a certificate made the way the
// FSM and ngrok guides make them (a common name, no subjectAltName). The proxy's periodic
// check and the next request fail; the tenant reports it with a message saying exactly that,
// then recovers once the upstream presents a certificate with the name as a DNS SAN.
func (s *Story) CommonNameOnly(ctx context.Context) (*RecoveryResult, error) {
	p := s.p()
	p.step("3e. A certificate with a common name and no subjectAltName, as several guides make them")
	host := serviceHost(TLSUpstreamService, Namespace)
	cnOnly, err := s.tls.chain.Intermediate.NewLeaf(host)
	if err != nil {
		return nil, err
	}
	s.tls.upstream.present(cnOnly.TLSCertificate())
	p.line("the upstream now presents CN=%s, issued by the same intermediate, with no subjectAltName;", host)
	p.line("no request is sent: the proxy's periodic check finds it, and checks again within seconds to")
	p.line("confirm it, since one failed handshake alone does not turn a verified upstream False")
	res := &RecoveryResult{}
	if res.Failed, err = s.verified(ctx, metav1.ConditionFalse, v1alpha1.ReasonHostnameMismatch); err != nil {
		return res, err
	}
	p.tenantStatus(res.Failed)

	p.line("the upstream presents its proper certificate again (DNS SAN %s)", host)
	s.tls.upstream.present(s.tls.chain.Leaf.TLSCertificate())
	r, err := s.recovered(ctx, "demo-san")
	if r != nil {
		r.Failed = res.Failed
	}
	return r, err
}

// demoCheckInterval is the proxy's active check period in the demo (30s by default), so
// that a change of the upstream shows within seconds.
const demoCheckInterval = 2 * time.Second

// checkOften sets the active check period of the adapted configuration file to
// demoCheckInterval.
func checkOften(config string) error {
	data, err := os.ReadFile(config)
	if err != nil {
		return err
	}
	cfg, err := contract.ParseConfig(data)
	if err != nil {
		return err
	}
	cfg.Verification.Interval = &contract.Duration{Duration: demoCheckInterval}
	if data, err = yaml.Marshal(cfg); err != nil {
		return err
	}
	return os.WriteFile(config, data, 0o600)
}

// recovered sends a request that must succeed and waits until the tenant is verified and
// Ready again.
func (s *Story) recovered(ctx context.Context, requestID string) (*RecoveryResult, error) {
	resp, err := s.request(ctx, requestID)
	if err != nil {
		return nil, err
	}
	res := &RecoveryResult{Status: resp.Status}
	if resp.Status != 200 {
		return res, fmt.Errorf("the proxy answered %d, not 200: %s", resp.Status, resp.Body)
	}
	if res.Tenant, err = s.verified(ctx, metav1.ConditionTrue, v1alpha1.ReasonVerified); err != nil {
		return res, err
	}
	s.p().tenantStatus(res.Tenant)
	return res, nil
}
