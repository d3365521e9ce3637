package gatewaytenant

// What the reconciler tells people beside the status: events on the tenant (Normal for the
// children it created, updated and deleted, Warning for failures), and a log line when the
// tenant's readiness changes.

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// maxEventNote is how long a note may grow before the rest of a list is counted instead: the
// API server refuses notes of 1 KiB and more.
const maxEventNote = 900

// recordWrites records what a write phase did: one Normal event each for the children it
// created, updated and deleted (one event, not one per child: a new TLS tenant has seven),
// and a Warning for each write that failed. A write that lost a race records nothing.
func (r *Reconciler) recordWrites(tenant *v1alpha1.GatewayTenant, out *outcome) {
	for _, e := range []struct {
		reason, action, verb string
		children             []string
	}{
		{v1alpha1.EventReasonCreated, "Apply", "created", out.created},
		{v1alpha1.EventReasonUpdated, "Apply", "updated", out.updated},
		{v1alpha1.EventReasonDeleted, "Delete", "deleted", out.deleted},
	} {
		if len(e.children) > 0 {
			r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, e.reason, e.action, "%s", listNote(e.verb, e.children))
		}
	}
	for _, f := range out.failed {
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeWarning, v1alpha1.EventReasonApplyFailed, "Apply", "writing %s failed: %v", f.child, f.err)
	}
}

// listNote is "<verb> <child>, <child>, ..." within maxEventNote, the rest counted.
func listNote(verb string, children []string) string {
	var b strings.Builder
	b.WriteString(verb)
	for i, c := range children {
		if b.Len()+len(c) > maxEventNote {
			fmt.Fprintf(&b, " and %d more", len(children)-i)
			break
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(" " + c)
	}
	return b.String()
}

// recordStatusChange logs a change of the tenant's readiness and records, per upstream, a
// change of its Verified or BackendTLSPolicyAccepted condition: Warning with the reason when
// it fails, Normal when it is verified or accepted. A tenant whose Ready turns False gets a
// Warning with the reason, except while its proxy rolls out (progress, not a problem), and not
// while it is Unknown (awaiting a proxy's report); a certificate entering its warning window
// gets one though the tenant stays Ready.
func (r *Reconciler) recordStatusChange(ctx context.Context, tenant *v1alpha1.GatewayTenant, old, cur *v1alpha1.GatewayTenantStatus) {
	for _, us := range cur.Upstreams {
		for _, typ := range []string{v1alpha1.ConditionVerified, v1alpha1.ConditionBackendTLSPolicyAccepted} {
			c := meta.FindStatusCondition(us.Conditions, typ)
			if c == nil || c.Status == metav1.ConditionUnknown {
				continue
			}
			var was *metav1.Condition
			if o := oldUpstream(old, us.Name); o != nil {
				was = meta.FindStatusCondition(o.Conditions, typ)
			}
			if was != nil && was.Status == c.Status && was.Reason == c.Reason {
				continue
			}
			kind := corev1.EventTypeNormal
			if c.Status != metav1.ConditionTrue {
				kind = corev1.EventTypeWarning
			}
			r.Recorder.Eventf(tenant, nil, kind, c.Reason, "Verify", "upstream %q: %s", us.Name, c.Message)
		}
	}
	was := meta.FindStatusCondition(old.Conditions, v1alpha1.ConditionReady)
	ready := meta.FindStatusCondition(cur.Conditions, v1alpha1.ConditionReady)
	if ready == nil || was != nil && was.Status == ready.Status && was.Reason == ready.Reason {
		return
	}
	ctrl.LoggerFrom(ctx).Info("Tenant readiness changed", "ready", ready.Status, "reason", ready.Reason, "message", ready.Message)
	if ready.Status == metav1.ConditionFalse && ready.Reason != v1alpha1.ReasonProxyProgressing ||
		ready.Reason == v1alpha1.ReasonCertificateExpiringSoon {
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeWarning, ready.Reason, "Reconcile", "%s", ready.Message)
	}
}
