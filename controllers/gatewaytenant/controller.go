// Package gatewaytenant holds the GatewayTenant reconciler: it turns a tenant's upstreams
// into NetworkPolicies that let exactly the gateway's namespaces in, and reports in status
// what it could not do and why.
package gatewaytenant

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// ControllerName names the controller in logs, events and metrics.
const ControllerName = "gatewaytenant"

// indexUpstreamService indexes GatewayTenants by the Services their upstreams name.
const indexUpstreamService = "spec.upstreams.service"

// Reconciler reconciles GatewayTenants.
type Reconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaytenants,verbs=get;list;watch
// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaytenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaytenants/finalizers,verbs=update
// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaydataplanes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one tenant's NetworkPolicies and status in line with its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	tenant := &v1alpha1.GatewayTenant{}
	if err := r.Client.Get(ctx, req.NamespacedName, tenant); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !tenant.DeletionTimestamp.IsZero() {
		// Everything the tenant owns goes with it through owner references.
		return ctrl.Result{}, nil
	}

	obs := observation{generation: tenant.Generation}
	planes := &v1alpha1.GatewayDataPlaneList{}
	if err := r.Client.List(ctx, planes); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing GatewayDataPlanes: %w", err)
	}
	obs.dataPlane = resolveDataPlane(&tenant.Spec, planes.Items)

	upstreams, err := r.checkUpstreams(ctx, tenant)
	if err != nil {
		return ctrl.Result{}, err
	}
	obs.upstreams = upstreams

	if obs.dataPlane.accepted() {
		obs.applyErr = r.ensureNetworkPolicies(ctx, tenant, obs)
	}
	if err := r.writeStatus(ctx, tenant, obs); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, obs.applyErr
}

// checkUpstreams validates every upstream against its Service.
func (r *Reconciler) checkUpstreams(ctx context.Context, tenant *v1alpha1.GatewayTenant) ([]upstreamResult, error) {
	results := make([]upstreamResult, 0, len(tenant.Spec.Upstreams))
	for _, u := range tenant.Spec.Upstreams {
		var svc *corev1.Service
		if name, ns := splitHost(u.Host); ns == tenant.Namespace {
			svc = &corev1.Service{}
			err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, svc)
			switch {
			case apierrors.IsNotFound(err):
				svc = nil
			case err != nil:
				return nil, fmt.Errorf("getting Service %s/%s: %w", ns, name, err)
			}
		}
		results = append(results, checkUpstream(tenant.Namespace, u, svc))
	}
	return results, nil
}

// ensureNetworkPolicies writes the NetworkPolicy of every valid upstream and deletes those of
// upstreams no longer in spec. The policy of an upstream that became invalid is kept as it
// was: a mistake in the spec never cuts off traffic that worked.
func (r *Reconciler) ensureNetworkPolicies(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs observation) error {
	peers := gatewayPeers(obs.dataPlane.environments)
	var errs []error
	inSpec := map[string]bool{}
	for _, u := range obs.upstreams {
		inSpec[u.upstream.Name] = true
		if !u.valid() {
			continue
		}
		desired := upstreamNetworkPolicy(tenant, u, peers)
		errs = append(errs, apply(ctx, r, tenant, desired, func(existing *networkingv1.NetworkPolicy) {
			existing.Spec = desired.Spec
		}))
	}

	owned := &networkingv1.NetworkPolicyList{}
	if err := r.Client.List(ctx, owned, client.InNamespace(tenant.Namespace), client.MatchingLabels{v1alpha1.LabelTenant: tenant.Name}); err != nil {
		return errors.Join(append(errs, fmt.Errorf("listing NetworkPolicies: %w", err))...)
	}
	for i := range owned.Items {
		np := &owned.Items[i]
		if metav1.IsControlledBy(np, tenant) && !inSpec[np.Labels[v1alpha1.LabelUpstream]] {
			errs = append(errs, r.delete(ctx, tenant, np))
		}
	}
	return errors.Join(errs...)
}

// writeStatus writes the status computed from obs, and nothing when it is unchanged.
func (r *Reconciler) writeStatus(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs observation) error {
	status := computeStatus(&tenant.Status, obs)
	if equality.Semantic.DeepEqual(status, tenant.Status) {
		return nil
	}
	wasReady := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady)
	ready := meta.FindStatusCondition(status.Conditions, v1alpha1.ConditionReady)
	patch := client.MergeFrom(tenant.DeepCopy())
	tenant.Status = status
	if err := r.Client.Status().Patch(ctx, tenant, patch); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	if wasReady == nil || wasReady.Status != ready.Status || wasReady.Reason != ready.Reason {
		ctrl.LoggerFrom(ctx).Info("Tenant readiness changed", "ready", ready.Status, "reason", ready.Reason, "message", ready.Message)
		if ready.Status != "True" {
			r.Recorder.Eventf(tenant, nil, corev1.EventTypeWarning, ready.Reason, "Reconcile", "%s", ready.Message)
		}
	}
	return nil
}

// SetupWithManager registers the reconciler and what it watches.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.GatewayTenant{}, indexUpstreamService, upstreamServices); err != nil {
		return fmt.Errorf("indexing GatewayTenants by Service: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&v1alpha1.GatewayTenant{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.tenantsForService)).
		Watches(&v1alpha1.GatewayDataPlane{}, handler.EnqueueRequestsFromMapFunc(r.allTenants),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// upstreamServices is the index function: the names of the Services of the tenant's own
// namespace that its upstreams address.
func upstreamServices(o client.Object) []string {
	tenant := o.(*v1alpha1.GatewayTenant)
	var names []string
	for _, u := range tenant.Spec.Upstreams {
		if svc, ns := splitHost(u.Host); ns == tenant.Namespace {
			names = append(names, svc)
		}
	}
	return names
}

func (r *Reconciler) tenantsForService(ctx context.Context, o client.Object) []reconcile.Request {
	tenants := &v1alpha1.GatewayTenantList{}
	if err := r.Client.List(ctx, tenants, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexUpstreamService: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing tenants of Service", "service", client.ObjectKeyFromObject(o))
		return nil
	}
	return requests(tenants.Items)
}

func (r *Reconciler) allTenants(ctx context.Context, _ client.Object) []reconcile.Request {
	tenants := &v1alpha1.GatewayTenantList{}
	if err := r.Client.List(ctx, tenants); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing tenants")
		return nil
	}
	return requests(tenants.Items)
}

func requests(tenants []v1alpha1.GatewayTenant) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(tenants))
	for i := range tenants {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&tenants[i])})
	}
	return reqs
}
