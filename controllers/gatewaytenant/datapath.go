package gatewaytenant

// The data path as far as the operator can know it: for each TLS upstream, what the proxy
// replicas found when they verified it (read by controllers/proxystate); for each plain
// upstream, how many ready endpoints its Service has. status.go turns it into the Verified
// condition and the Ready conditions; the rule against flapping is here.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// dataPath is what one reconcile learned of the data path.
type dataPath struct {
	// verdicts are the proxy replicas' results per TLS upstream the proxy serves.
	verdicts map[string]proxystate.Verdict
	// endpoints are the ready endpoints of each valid plain upstream's Service.
	endpoints map[string]int
	// expiryWarning is how long before the upstream's own certificate expires that it is
	// reported.
	expiryWarning time.Duration
}

// observeDataPath reads the latest proxy reading of the tenant (from memory) and counts the
// ready endpoints of its plain upstreams (from the cache): no request to the API server.
func (r *Reconciler) observeDataPath(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs *observation) error {
	dp := dataPath{verdicts: map[string]proxystate.Verdict{}, endpoints: map[string]int{}, expiryWarning: r.ExpiryWarning}
	if len(obs.proxyUpstreams) > 0 && r.ProxyStates != nil {
		reading, _ := r.ProxyStates.Get(client.ObjectKeyFromObject(tenant))
		revision := proxyRevision(obs.proxyUpstreams)
		for _, pu := range obs.proxyUpstreams {
			v := reading.Verdict(pu.upstream.Name, revision)
			dp.verdicts[pu.upstream.Name] = v
			if v.Presented != nil {
				// The upstream's own certificate counts for the next time-driven reconcile.
				for i := range obs.upstreams {
					if u := &obs.upstreams[i]; u.upstream.Name == pu.upstream.Name && (u.notAfter.IsZero() || v.Presented.NotAfter.Before(u.notAfter)) {
						u.notAfter = v.Presented.NotAfter
					}
				}
			}
		}
	}
	for _, u := range obs.upstreams {
		if !u.valid() || u.upstream.TLS != nil {
			continue
		}
		svc, _ := splitHost(u.upstream.Host)
		n, err := r.readyEndpoints(ctx, types.NamespacedName{Namespace: tenant.Namespace, Name: svc})
		if err != nil {
			return err
		}
		dp.endpoints[u.upstream.Name] = n
	}
	obs.dataPath = dp
	return nil
}

// readyEndpoints counts the ready endpoints of a Service, once per address.
func (r *Reconciler) readyEndpoints(ctx context.Context, svc types.NamespacedName) (int, error) {
	list := &discoveryv1.EndpointSliceList{}
	if err := r.Client.List(ctx, list, client.InNamespace(svc.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}); err != nil {
		return 0, fmt.Errorf("listing the EndpointSlices of Service %s: %w", svc, err)
	}
	ready := map[string]bool{}
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if (ep.Conditions.Ready == nil || *ep.Conditions.Ready) && len(ep.Addresses) > 0 {
				ready[ep.Addresses[0]] = true
			}
		}
	}
	return len(ready), nil
}

// proxyRevision is the revision of the configuration rendered for ups: the proxy repeats it
// in its state report, so that reports of replicas still running an older configuration
// (during a rollout) are not taken for the current one.
func proxyRevision(ups []proxyUpstream) string {
	cfg, err := proxyConfigObject(ups)
	if err != nil {
		return ""
	}
	return configRevision(cfg)
}

// configRevision is a digest of the configuration without its revision.
func configRevision(cfg contract.Config) string {
	cfg.Revision = ""
	data, err := yaml.Marshal(cfg)
	if err != nil {
		panic(fmt.Sprintf("marshalling proxy configuration: %v", err)) // plain data: cannot fail
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// verifiedReasons maps the proxy's reasons to the condition's.
var verifiedReasons = map[contract.Reason]string{
	contract.ReasonUnknownAuthority:          v1alpha1.ReasonUnknownAuthority,
	contract.ReasonHostnameMismatch:          v1alpha1.ReasonHostnameMismatch,
	contract.ReasonExpired:                   v1alpha1.ReasonCertificateExpired,
	contract.ReasonNotYetValid:               v1alpha1.ReasonCertificateNotYetValid,
	contract.ReasonChainTooDeep:              v1alpha1.ReasonChainTooDeep,
	contract.ReasonBadKeyUsage:               v1alpha1.ReasonBadKeyUsage,
	contract.ReasonClientCertificateRejected: v1alpha1.ReasonClientCertificateRejected,
	contract.ReasonProtocolVersion:           v1alpha1.ReasonProtocolVersion,
	contract.ReasonUpstreamNotTLS:            v1alpha1.ReasonUpstreamNotTLS,
	contract.ReasonConnectFailed:             v1alpha1.ReasonConnectFailed,
	contract.ReasonTimeout:                   v1alpha1.ReasonTimeout,
	contract.ReasonHandshakeFailed:           v1alpha1.ReasonHandshakeFailed,
}

func verifiedReason(r contract.Reason) string {
	if reason, ok := verifiedReasons[r]; ok {
		return reason
	}
	return v1alpha1.ReasonVerificationFailed
}

// verifiedCondition is the Verified condition of a TLS upstream from the replicas' verdict
// and the condition as it stands (nil if none). It does not flap:
//   - once True, it turns False only when every failing replica failed at least twice in a
//     row (the proxy checks a new failure again within seconds);
//   - once True or False, a poll that reads no replica (network trouble) changes nothing.
func verifiedCondition(name string, v proxystate.Verdict, prev *metav1.Condition) metav1.Condition {
	const typ = v1alpha1.ConditionVerified
	known := prev != nil && prev.Status != metav1.ConditionUnknown
	switch {
	case !v.Reported() && v.Pending == 0 && len(v.Unreachable) > 0:
		if known {
			return *prev
		}
		return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown, Reason: v1alpha1.ReasonProxyUnreachable,
			Message: fmt.Sprintf("the operator cannot read the proxy replicas' state: %s", strings.Join(v.Unreachable, "; "))}
	case !v.Reported():
		return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown, Reason: v1alpha1.ReasonAwaitingProxyReport,
			Message: fmt.Sprintf("no proxy replica has verified upstream %q with the current configuration yet", name)}
	case len(v.Failing) == 0:
		return condition(typ, true, v1alpha1.ReasonVerified, verifiedMessage(v))
	}
	if known && prev.Status == metav1.ConditionTrue && slices.ContainsFunc(v.Failing, func(f proxystate.Failure) bool { return !f.Confirmed }) {
		return *prev // a single failed check of a verified upstream is not a failure yet
	}
	first := v.Failing[0]
	agree := len(v.Verified) == 0 && !slices.ContainsFunc(v.Failing, func(f proxystate.Failure) bool { return f.Result != first.Result })
	if agree {
		return condition(typ, false, verifiedReason(first.Result), first.Message)
	}
	parts := make([]string, 0, len(v.Verified)+len(v.Failing))
	for _, pod := range v.Verified {
		parts = append(parts, pod+": verified")
	}
	for _, f := range v.Failing {
		parts = append(parts, fmt.Sprintf("%s: %s: %s", f.Pod, verifiedReason(f.Result), f.Message))
	}
	return condition(typ, false, v1alpha1.ReasonReplicasDisagree,
		fmt.Sprintf("%d proxy replicas disagree: %s", len(parts), strings.Join(parts, "; ")))
}

func verifiedMessage(v proxystate.Verdict) string {
	msg := fmt.Sprintf("verified by %d proxy replica(s)", len(v.Verified))
	if pc := v.Presented; pc != nil {
		msg += fmt.Sprintf(": the upstream presents %s issued by %s, valid until %s", pc.Subject, pc.Issuer, pc.NotAfter.UTC().Format(time.RFC3339))
	}
	return msg
}

// dataPathReady refines a valid upstream's Ready condition with the data path: a failed
// verification makes it False with the same reason; an upstream certificate that expires soon
// and a Service without ready endpoints are warnings (True with the reason).
func dataPathReady(u upstreamResult, ready metav1.Condition, verified *metav1.Condition, dp dataPath, now time.Time) metav1.Condition {
	name := u.upstream.Name
	if u.upstream.TLS == nil {
		svc, _ := splitHost(u.upstream.Host)
		n := dp.endpoints[name]
		if n == 0 {
			return condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonNoReadyEndpoints,
				fmt.Sprintf("upstream %q: Service %q has no ready endpoints; the NetworkPolicy is in place, but the gateway's requests fail until a pod is ready", name, svc))
		}
		if ready.Reason == v1alpha1.ReasonReady {
			ready.Message = fmt.Sprintf("upstream %q: Service %q port %d has %d ready endpoint(s); the gateway may reach them", name, svc, u.upstream.Port, n)
		}
		return ready
	}
	if verified == nil {
		return ready
	}
	switch verified.Status {
	case metav1.ConditionFalse:
		return condition(v1alpha1.ConditionReady, false, verified.Reason, fmt.Sprintf("upstream %q: %s", name, verified.Message))
	case metav1.ConditionUnknown:
		if ready.Reason == v1alpha1.ReasonReady {
			ready.Message = fmt.Sprintf("upstream %q: the gateway reaches it through the proxy; its verification is pending (%s)", name, verified.Reason)
		}
		return ready
	}
	if pc := dp.verdicts[name].Presented; pc != nil && ready.Reason == v1alpha1.ReasonReady && pc.NotAfter.Sub(now) < dp.expiryWarning {
		return condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonCertificateExpiringSoon,
			fmt.Sprintf("upstream %q: the upstream's own certificate %s expires at %s; renew it", name, pc.Subject, pc.NotAfter.UTC().Format(time.RFC3339)))
	}
	if ready.Reason == v1alpha1.ReasonReady {
		ready.Message = fmt.Sprintf("upstream %q: the gateway reaches it through the proxy; %s", name, verified.Message)
	}
	return ready
}

// dataPathSummary refines the tenant's Ready condition: an upstream that fails verification
// makes it False, a True one says "reachable" only of what is, and a warning of an upstream's
// own certificate shows as for the CA (CertificateExpiringSoon).
func dataPathSummary(ready metav1.Condition, upstreams []v1alpha1.UpstreamStatus) metav1.Condition {
	if ready.Status != metav1.ConditionTrue {
		return ready
	}
	var notes, warnings []string
	for _, us := range upstreams {
		c := meta.FindStatusCondition(us.Conditions, v1alpha1.ConditionReady)
		v := meta.FindStatusCondition(us.Conditions, v1alpha1.ConditionVerified)
		switch {
		case c == nil:
		case c.Status == metav1.ConditionFalse:
			return condition(v1alpha1.ConditionReady, false, c.Reason, c.Message)
		case c.Reason == v1alpha1.ReasonNoReadyEndpoints:
			notes = append(notes, fmt.Sprintf("upstream %q has no ready endpoints", us.Name))
		case v != nil && v.Status == metav1.ConditionUnknown:
			notes = append(notes, fmt.Sprintf("upstream %q awaits verification by the proxy (%s)", us.Name, v.Reason))
		case c.Reason == v1alpha1.ReasonCertificateExpiringSoon && !strings.Contains(ready.Message, c.Message):
			warnings = append(warnings, c.Message)
		}
	}
	if len(warnings) > 0 {
		sep := ", but "
		if ready.Reason == v1alpha1.ReasonCertificateExpiringSoon {
			sep = "; "
		}
		ready.Reason, ready.Message = v1alpha1.ReasonCertificateExpiringSoon, ready.Message+sep+strings.Join(warnings, "; ")
	}
	if len(notes) > 0 {
		// Keep what summarise said after its first words, such as a certificate expiring soon.
		rest := strings.TrimPrefix(ready.Message, fmt.Sprintf(reachableMessage, len(upstreams)))
		ready.Message = fmt.Sprintf("all %d upstreams are configured; %s%s", len(upstreams), strings.Join(notes, "; "), rest)
	}
	return ready
}

// recordVerificationEvents records an event for each upstream whose Verified condition
// changed: Warning with the reason when it fails, Normal when it is verified.
func (r *Reconciler) recordVerificationEvents(tenant *v1alpha1.GatewayTenant, old, cur *v1alpha1.GatewayTenantStatus) {
	for _, us := range cur.Upstreams {
		c := meta.FindStatusCondition(us.Conditions, v1alpha1.ConditionVerified)
		if c == nil || c.Status == metav1.ConditionUnknown {
			continue
		}
		var was *metav1.Condition
		for _, o := range old.Upstreams {
			if o.Name == us.Name {
				was = meta.FindStatusCondition(o.Conditions, v1alpha1.ConditionVerified)
			}
		}
		if was != nil && was.Status == c.Status && was.Reason == c.Reason {
			continue
		}
		if c.Status == metav1.ConditionTrue {
			r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, c.Reason, "Verify", "upstream %q: %s", us.Name, c.Message)
		} else {
			r.Recorder.Eventf(tenant, nil, corev1.EventTypeWarning, c.Reason, "Verify", "upstream %q: %s", us.Name, c.Message)
		}
	}
}

// operatorPeer is the operator's namespace, admitted to the proxy's admin port only, so that
// the operator can read the proxy's state where namespaces deny ingress by default; nil when
// the operator's namespace is not known.
func operatorPeer(operatorNamespace string) *networkingv1.NetworkPolicyPeer {
	if operatorNamespace == "" {
		return nil
	}
	return &networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{labelNamespaceName: operatorNamespace},
	}}
}
