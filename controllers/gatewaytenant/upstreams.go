package gatewaytenant

// Each upstream as the gateway sees it: whether it is served (as its spec asks, or at its
// last good spec), where the gateway reaches it, and its Verified and Ready conditions.
// status.go sums the views up into the tenant's conditions. Pure.

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// served says how the gateway's traffic to an upstream is let through.
type served int

const (
	notServed      served = iota
	servedValid           // as its spec asks
	servedLastGood        // its new spec is refused; what its last good spec opened stays
)

// gatewayAddress is where the gateway reaches an upstream: what the tenant writes in the
// gateway's Service definition.
type gatewayAddress struct {
	host string
	port int32
}

func (a gatewayAddress) String() string { return fmt.Sprintf("%s:%d", a.host, a.port) }

// upstreamView is one upstream as the gateway sees it.
type upstreamView struct {
	result  upstreamResult
	served  served
	address gatewayAddress // zero when the gateway has nowhere to go
	// verified is the Verified condition of a TLS upstream the proxy serves and reports on;
	// nil otherwise. material is what the replicas report of the material only they check.
	verified *metav1.Condition
	material materialVerdict
	// accepted is the BackendTLSPolicyAccepted condition of a TLS upstream the gateway
	// verifies; nil otherwise.
	accepted *metav1.Condition
	ready    metav1.Condition
	// note says, for the tenant's Ready, that the upstream's data path is not known to work
	// yet; warning that a certificate expires soon. Each names the upstream.
	note, warning string
	// refs says what the tenant's ResolvedRefs learns of the material only the proxy checks:
	// refsFailed that it fails (ready says how), refsPending that no replica has reported on it.
	refsFailed, refsPending bool
	// clientCert is the client identity the proxy presents to it, as served.
	clientCert *v1alpha1.ClientCertificateStatus
}

// upstreamViews are the views of every upstream of the spec, in spec order.
func upstreamViews(old *v1alpha1.GatewayTenantStatus, obs *observation, tenant string) []upstreamView {
	views := make([]upstreamView, 0, len(obs.upstreams))
	for _, u := range obs.upstreams {
		prev := oldUpstream(old, u.upstream.Name)
		v := upstreamView{result: u}
		v.served, v.address = servedAt(obs, u, prev, tenant)
		v.material = obs.materials[u.upstream.Name]
		if pu := obs.servedAs(u.upstream.Name); pu != nil {
			v.clientCert = clientCertificateStatus(pu.upstream, v.material)
		}
		if verdict, ok := obs.verdicts[u.upstream.Name]; ok {
			var was *metav1.Condition
			if prev != nil {
				was = meta.FindStatusCondition(prev.Conditions, v1alpha1.ConditionVerified)
			}
			c := verifiedCondition(u.upstream.Name, verdict, v.material, was)
			v.verified = &c
		}
		if d := obs.directAs(u.upstream.Name); d != nil {
			c := policyAcceptedCondition(*d)
			v.accepted = &c
		}
		v.judgeReady(obs)
		views = append(views, v)
	}
	return views
}

// servedAt says how and where the gateway reaches an upstream: a valid plain one, and a TLS
// one the gateway verifies, at its Service; one the proxy serves at the proxy's Service
// (valid, or at its last good spec); one whose new spec is refused where it reached it
// before, while its old NetworkPolicy straight to the pods stays.
func servedAt(obs *observation, u upstreamResult, prev *v1alpha1.UpstreamStatus, tenant string) (served, gatewayAddress) {
	if pu := obs.servedAs(u.upstream.Name); pu != nil {
		how := servedValid
		if !u.valid() {
			how = servedLastGood
		}
		return how, gatewayAddress{host: obs.proxyHost, port: pu.servicePort}
	}
	switch {
	case u.valid() && (u.upstream.TLS == nil || obs.directAs(u.upstream.Name) != nil):
		return servedValid, gatewayAddress{host: u.upstream.Host, port: u.upstream.Port}
	case u.valid():
		return notServed, gatewayAddress{}
	case obs.keptPolicy(tenant, u.upstream.Name):
		if prev != nil && prev.GatewayHost != "" {
			return servedLastGood, gatewayAddress{host: prev.GatewayHost, port: prev.GatewayPort}
		}
		return servedLastGood, gatewayAddress{}
	}
	return notServed, gatewayAddress{}
}

// judgeReady sets the upstream's Ready condition and what it adds to the tenant's.
func (v *upstreamView) judgeReady(obs *observation) {
	u := v.result
	name := u.upstream.Name
	switch {
	case !u.valid():
		v.ready = condition(v1alpha1.ConditionReady, false, u.reason, v.refusedMessage())
	case u.upstream.TLS == nil:
		svc, _ := splitHost(u.upstream.Host)
		n := obs.endpoints[svc]
		if n == 0 {
			v.ready = condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonNoReadyEndpoints, upstreamSays(name, fmt.Sprintf(
				"Service %q has no ready endpoints; the NetworkPolicy is in place, but the gateway's requests fail until a pod is ready", svc)))
			v.note = fmt.Sprintf("upstream %q has no ready endpoints", name)
			return
		}
		v.ready = condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonReady, upstreamSays(name, fmt.Sprintf(
			"Service %q port %d has %d ready endpoint(s); the gateway may reach them", svc, u.upstream.Port, n)))
	default:
		v.judgeTLSReady(obs)
	}
}

// judgeTLSReady sets the Ready condition of a valid TLS upstream: a failed verification (by
// the proxy, or the gateway's implementation refusing its BackendTLSPolicy) makes it False
// with the same reason; material only the proxy checks (a Secret, a pod certificate) makes it
// Unknown until a replica reports on it; a certificate that expires soon is a warning (True
// with the reason), the CA's and client certificate's first, then the upstream's own.
func (v *upstreamView) judgeTLSReady(obs *observation) {
	u := v.result
	name := u.upstream.Name
	warning := u.warning
	if warning == "" {
		warning = v.material.warning
	}
	if warning != "" {
		v.warning = upstreamSays(name, warning)
		v.ready = condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonCertificateExpiringSoon, v.warning)
	} else {
		v.ready = condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonReady, u.message())
	}
	checked := proxyChecked(u.upstream)
	c, reaches, awaits, pending := v.verified, "the gateway reaches it through the proxy", "verification by the proxy", "its verification is pending"
	if v.accepted != nil {
		// No proxy: the gateway's implementation reads what the BackendTLSPolicy references
		// (a Secret CA too) and reports on it in the policy's status.
		checked = nil
		c, awaits, pending = v.accepted, "the gateway's report on its BackendTLSPolicy", "no implementation has reported on it yet"
		reaches = fmt.Sprintf("the gateway reaches it directly and verifies it through BackendTLSPolicy %q", obs.directAs(name).desired.Name)
	}
	switch {
	case c == nil && len(checked) > 0:
		v.pendingMaterial(checked, v1alpha1.ReasonAwaitingProxyReport)
	case c == nil:
	case c.Status == metav1.ConditionFalse:
		v.ready = condition(v1alpha1.ConditionReady, false, c.Reason, upstreamSays(name, c.Message))
		// The proxy's report on material is the tenant's ResolvedRefs too; an implementation's
		// refusal of a BackendTLSPolicy is its own condition's.
		v.refsFailed = v.accepted == nil && (len(v.material.failures) > 0 || materialReasons[c.Reason])
	case c.Status == metav1.ConditionUnknown && len(checked) > 0 && !v.material.reported:
		v.pendingMaterial(checked, c.Reason)
	case c.Status == metav1.ConditionUnknown:
		v.note = fmt.Sprintf("upstream %q awaits %s (%s)", name, awaits, c.Reason)
		if v.warning == "" {
			v.ready.Message = upstreamSays(name, fmt.Sprintf("%s; %s (%s)", reaches, pending, c.Reason))
		}
	case v.warning != "":
	case ownCertificateExpiring(obs, name):
		pc := obs.verdicts[name].Presented
		v.warning = upstreamSays(name, fmt.Sprintf("the upstream's own certificate %s expires at %s; renew it", pc.Subject, pc.NotAfter.UTC().Format(time.RFC3339)))
		v.ready = condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonCertificateExpiringSoon, v.warning)
	default:
		v.ready.Message = upstreamSays(name, reaches+"; "+c.Message)
	}
}

// materialReasons are the reasons of Verified that only material can have: they make the
// tenant's ResolvedRefs False too, also while the condition is held through a poll that read no
// replica.
var materialReasons = map[string]bool{
	v1alpha1.ReasonInvalidClientCertificate: true,
	v1alpha1.ReasonInvalidCACertificateRef:  true,
	v1alpha1.ReasonNoValidCACertificate:     true,
}

// pendingMaterial makes Ready Unknown with reason: nobody has checked the material only the
// proxy checks yet. The gateway may well get through; the operator does not know.
func (v *upstreamView) pendingMaterial(checked []checkedByProxy, reason string) {
	v.refsPending = true
	v.note = ""
	v.ready = metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionUnknown, Reason: reason,
		Message: upstreamSays(v.result.upstream.Name, fmt.Sprintf("only the proxy replicas can check %s (the operator reads no Secret), "+
			"and none has reported on it with the current configuration yet (%s)", names(checked), reason))}
}

// ownCertificateExpiring says whether the certificate the upstream presented to the proxy
// expires within the warning window.
func ownCertificateExpiring(obs *observation, name string) bool {
	pc := obs.verdicts[name].Presented
	return pc != nil && pc.NotAfter.Sub(obs.now) < obs.expiryWarning
}

// refusedMessage is the Ready message of an upstream whose spec is refused: why, and, when
// what its last good spec opened stays, that it does and where the gateway reaches it.
func (v *upstreamView) refusedMessage() string {
	u := v.result
	switch {
	case v.served != servedLastGood:
		return u.message()
	case v.address.host == "":
		return upstreamSays(u.upstream.Name, fmt.Sprintf("its new spec is refused: %s. The NetworkPolicy of its last good spec stays in place", u.detail))
	}
	return upstreamSays(u.upstream.Name, fmt.Sprintf("its new spec is refused: %s. It keeps its last good spec, which the gateway reaches at %s", u.detail, v.address))
}

// upstreamStatuses are the status.upstreams entries of the views; conditions keep their
// transition times from the old status when they do not change.
func upstreamStatuses(old *v1alpha1.GatewayTenantStatus, views []upstreamView, generation int64) []v1alpha1.UpstreamStatus {
	var out []v1alpha1.UpstreamStatus
	for _, v := range views {
		us := v1alpha1.UpstreamStatus{Name: v.result.upstream.Name, GatewayHost: v.address.host, GatewayPort: v.address.port}
		us.ClientCertificate = v.clientCert
		if prev := oldUpstream(old, us.Name); prev != nil {
			us.Conditions = append([]metav1.Condition(nil), prev.Conditions...)
		}
		for _, c := range []*metav1.Condition{v.verified, v.accepted, &v.ready} {
			if c != nil {
				c := *c
				c.ObservedGeneration = generation
				meta.SetStatusCondition(&us.Conditions, c)
			}
		}
		if v.verified == nil {
			meta.RemoveStatusCondition(&us.Conditions, v1alpha1.ConditionVerified)
		}
		if v.accepted == nil {
			meta.RemoveStatusCondition(&us.Conditions, v1alpha1.ConditionBackendTLSPolicyAccepted)
		}
		out = append(out, us)
	}
	return out
}

// oldUpstream is the old status of the upstream named name, nil when it had none.
func oldUpstream(old *v1alpha1.GatewayTenantStatus, name string) *v1alpha1.UpstreamStatus {
	for i := range old.Upstreams {
		if old.Upstreams[i].Name == name {
			return &old.Upstreams[i]
		}
	}
	return nil
}
