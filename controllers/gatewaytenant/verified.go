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

// replicaOutcome is one replica's word on an upstream: verified, or failing with a reason of
// the API.
type replicaOutcome struct {
	pod             string
	ok              bool
	reason, message string
	confirmed       bool
}

// outcomes are the replicas' words on an upstream, by pod: their verification, except where
// their material (what only the proxy checks) fails, which decides, confirmed at once.
func outcomes(v proxystate.Verdict, mv materialVerdict) []replicaOutcome {
	byPod := map[string]replicaOutcome{}
	for _, pod := range v.Verified {
		byPod[pod] = replicaOutcome{pod: pod, ok: true}
	}
	for _, f := range v.Failing {
		byPod[f.Pod] = replicaOutcome{pod: f.Pod, reason: verifiedReason(f.Result), message: f.Message, confirmed: f.Confirmed}
	}
	for _, f := range mv.failures {
		byPod[f.pod] = replicaOutcome{pod: f.pod, reason: f.reason, message: f.message, confirmed: true}
	}
	out := make([]replicaOutcome, 0, len(byPod))
	for _, o := range byPod {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b replicaOutcome) int { return strings.Compare(a.pod, b.pod) })
	return out
}

// verifiedCondition is the Verified condition of a TLS upstream from the replicas' verdict,
// what they report of its material, and the condition as it stands (nil if none). It does not
// flap:
//   - once True, it turns False only when every failing replica failed at least twice in a
//     row (the proxy checks a new failure again within seconds), or its material fails;
//   - once True or False, a poll that reads no replica (network trouble) changes nothing.
func verifiedCondition(name string, v proxystate.Verdict, mv materialVerdict, prev *metav1.Condition) metav1.Condition {
	const typ = v1alpha1.ConditionVerified
	known := prev != nil && prev.Status != metav1.ConditionUnknown
	all := outcomes(v, mv)
	var ok, failing []replicaOutcome
	for _, o := range all {
		if o.ok {
			ok = append(ok, o)
		} else {
			failing = append(failing, o)
		}
	}
	switch {
	case len(all) == 0 && v.Pending == 0 && len(v.Unreachable) > 0:
		if known {
			return *prev
		}
		return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown, Reason: v1alpha1.ReasonProxyUnreachable,
			Message: fmt.Sprintf("the operator cannot read the proxy replicas' state: %s", strings.Join(v.Unreachable, "; "))}
	case len(all) == 0:
		return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown, Reason: v1alpha1.ReasonAwaitingProxyReport,
			Message: fmt.Sprintf("no proxy replica has verified upstream %q with the current configuration yet", name)}
	case len(failing) == 0:
		return condition(typ, true, v1alpha1.ReasonVerified, verifiedMessage(len(ok), v.Presented))
	}
	if known && prev.Status == metav1.ConditionTrue && slices.ContainsFunc(failing, func(o replicaOutcome) bool { return !o.confirmed }) {
		return *prev // a single failed check of a verified upstream is not a failure yet
	}
	first := failing[0]
	if len(ok) == 0 && !slices.ContainsFunc(failing, func(o replicaOutcome) bool { return o.reason != first.reason }) {
		return condition(typ, false, first.reason, first.message)
	}
	parts := make([]string, 0, len(all))
	for _, o := range all {
		if o.ok {
			parts = append(parts, o.pod+": verified")
		} else {
			parts = append(parts, fmt.Sprintf("%s: %s: %s", o.pod, o.reason, o.message))
		}
	}
	return condition(typ, false, v1alpha1.ReasonReplicasDisagree,
		fmt.Sprintf("%d proxy replicas disagree: %s", len(parts), strings.Join(parts, "; ")))
}

func verifiedMessage(replicas int, pc *contract.PresentedCertificate) string {
	msg := fmt.Sprintf("verified by %d proxy replica(s)", replicas)
	if pc != nil {
		msg += fmt.Sprintf(": the upstream presents %s issued by %s, valid until %s", pc.Subject, pc.Issuer, pc.NotAfter.UTC().Format(time.RFC3339))
	}
	return msg
}
