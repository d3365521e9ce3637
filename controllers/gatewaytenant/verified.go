package gatewaytenant

// The Verified condition of a TLS upstream: what the proxy replicas found when they verified
// it (read by controllers/proxystate), and the rule against flapping. Pure.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

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
