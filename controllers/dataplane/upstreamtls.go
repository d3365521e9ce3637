package dataplane

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// UpstreamTLSReconciler writes every GatewayDataPlane's UpstreamTLSReady condition: whether
// the TLS upstreams of its tenants can be verified as its spec.upstreamTLS.mode says. In
// BackendTLSPolicy mode that takes the Gateway API CRDs, which the manager looks for once,
// at start.
type UpstreamTLSReconciler struct {
	Client client.Client
	// BackendTLSPolicies says that the API server served gateway.networking.k8s.io/v1
	// BackendTLSPolicies when the manager started.
	BackendTLSPolicies bool
}

// Reconcile writes the condition of one data plane, and nothing when it is current. It
// patches with an optimistic lock: other controllers write other conditions of the same list.
func (r *UpstreamTLSReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	dp := &v1alpha1.GatewayDataPlane{}
	if err := r.Client.Get(ctx, req.NamespacedName, dp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	want := upstreamTLSCondition(&dp.Spec, r.BackendTLSPolicies)
	want.ObservedGeneration = dp.Generation
	if c := meta.FindStatusCondition(dp.Status.Conditions, want.Type); c != nil &&
		c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message && c.ObservedGeneration == want.ObservedGeneration {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFromWithOptions(dp.DeepCopy(), client.MergeFromWithOptimisticLock{})
	meta.SetStatusCondition(&dp.Status.Conditions, want)
	err := r.Client.Status().Patch(ctx, dp, patch)
	switch {
	case apierrors.IsConflict(err):
		// Another controller wrote the status in between; its change reconciles this one
		// again, and this is the bound.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("writing GatewayDataPlane %s status: %w", dp.Name, err)
	}
	return ctrl.Result{}, nil
}

// upstreamTLSCondition is the UpstreamTLSReady condition of a data plane with spec, on a
// cluster that serves BackendTLSPolicies or not.
func upstreamTLSCondition(spec *v1alpha1.GatewayDataPlaneSpec, backendTLSPolicies bool) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionUpstreamTLSReady, Status: metav1.ConditionTrue}
	switch {
	case spec.TLSMode() != v1alpha1.UpstreamTLSModeBackendTLSPolicy:
		c.Reason = v1alpha1.ReasonProxyVerifies
		c.Message = "the operator runs a proxy per tenant that verifies its TLS upstreams; the gateway calls the proxy over plain HTTP"
	case !backendTLSPolicies:
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.ReasonBackendTLSPolicyUnavailable
		c.Message = "spec.upstreamTLS.mode is BackendTLSPolicy, but the API server did not serve gateway.networking.k8s.io/v1 BackendTLSPolicies " +
			"when the operator started: the TLS upstreams of this data plane's tenants are refused, nothing is written for them, and what they had stays. " +
			"Install the Gateway API standard CRDs (v1.4 or later), then restart the operator"
	default:
		s := spec.BackendTLSPolicySettings()
		c.Reason = v1alpha1.ReasonGatewayVerifies
		c.Message = fmt.Sprintf("the gateway verifies TLS upstreams through the BackendTLSPolicies the operator writes, one per TLS upstream, "+
			"and reaches their pods directly; it accepts TLS %s and later by default", s.DefaultMinVersion)
		if s.MinVersionOption != "" {
			c.Message += fmt.Sprintf(", and takes a tenant's minimum version in option %s", s.MinVersionOption)
		} else {
			c.Message += ", and tenants asking for a higher minimum version are refused (no minVersionOption)"
		}
	}
	return c
}

// SetupWithManager runs the reconciler on every change of a data plane, its status included:
// a status written by another controller from an older copy may drop the condition, which is
// then written again.
func (r *UpstreamTLSReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("dataplane-upstream-tls").
		For(&v1alpha1.GatewayDataPlane{}).
		Complete(r)
}
