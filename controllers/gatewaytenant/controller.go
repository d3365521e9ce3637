// Package gatewaytenant holds the GatewayTenant reconciler: it turns a tenant's upstreams
// into NetworkPolicies that let exactly the gateway's namespaces in and, for TLS upstreams, a
// proxy that verifies them, and reports in status what it could not do and why.
//
// controller.go is the flow and the watches; observe.go reads everything into one
// observation; validate.go and certificates.go judge what was read; resources.go builds the
// desired objects; apply.go writes them by one rule; status.go computes the status.
package gatewaytenant

import (
	"context"
	"errors"
	"fmt"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/metrics"
)

// ControllerName names the controller in logs, events and metrics.
const ControllerName = "gatewaytenant"

// Indexes of GatewayTenants: by the Services their upstreams name, and by the ConfigMaps and
// Secrets ("<Kind>/<name>") their certificate references name.
const (
	indexUpstreamService = "spec.upstreams.service"
	indexCertObject      = "spec.upstreams.tls.refs"
)

// Reconciler reconciles GatewayTenants.
type Reconciler struct {
	Client client.Client
	// CertReader reads the ConfigMaps and Secrets that certificate references name, straight
	// from the API server.
	CertReader client.Reader
	// APIReader reads owned objects past the label-filtered cache, to repair one whose labels
	// were removed.
	APIReader client.Reader
	// Cache, when set, is the manager's cache: from the metadata of ConfigMaps and Secrets it
	// holds, certificate references are read only when their object changed, and objects that
	// do not exist are not read at all.
	Cache    client.Reader
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Proxy configures every tenant's TLS proxy.
	Proxy ProxySettings
	// ExpiryWarning is how long before a certificate expires that it is reported.
	ExpiryWarning time.Duration
	// Rollout, when set, bounds how fast proxies change image (daytwo.go).
	Rollout *Rollout
	// Certificates, when set, exports the expiry of every referenced certificate.
	Certificates *metrics.Certificates
	// ProxyStates holds what the tenants' proxy replicas report (nil: nothing is read, and
	// TLS upstreams get no Verified condition).
	ProxyStates *proxystate.Store
	// OperatorNamespace is admitted to the proxies' admin port; "" admits nobody.
	OperatorNamespace string

	// Workers is how many tenants are reconciled at once; 1 when zero.
	Workers int

	certs certSource // CertReader, through a memo when Cache is set
}

// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaytenants,verbs=get;list;watch
// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaytenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaytenants/finalizers,verbs=update
// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaydataplanes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services;configmaps;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one tenant's NetworkPolicies, proxy and status in line with its spec:
// observe, write the children, write the status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	tenant := &v1alpha1.GatewayTenant{}
	if err := r.Client.Get(ctx, req.NamespacedName, tenant); err != nil {
		if apierrors.IsNotFound(err) {
			r.exportCertificates(req.NamespacedName, nil)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !tenant.DeletionTimestamp.IsZero() {
		// Everything the tenant owns goes with it through owner references.
		r.exportCertificates(req.NamespacedName, nil)
		return ctrl.Result{}, nil
	}

	obs, err := r.observe(ctx, tenant)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.exportCertificates(req.NamespacedName, obs)
	switch {
	case obs.conflict != "":
		// An older tenant owns a Service port this one names: whatever this one wrote goes,
		// nothing is written.
		obs.applyErr = r.deleteOwned(ctx, tenant)
	case obs.dataPlane.accepted():
		obs.applyErr = errors.Join(r.ensureNetworkPolicies(ctx, tenant, obs), r.ensureProxy(ctx, tenant, obs))
	}
	if err := r.writeStatus(ctx, tenant, obs); err != nil {
		return ctrl.Result{}, err
	}
	if obs.applyErr != nil {
		return ctrl.Result{}, obs.applyErr
	}
	next := nextCertificateCheck(obs, r.ExpiryWarning)
	if o := obs.proxyOutdated; o != nil && (next == 0 || o.retry < next) {
		next = o.retry
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// exportCertificates sets the tenant's certificate expiry series from obs (none when nil).
func (r *Reconciler) exportCertificates(tenant types.NamespacedName, obs *observation) {
	if r.Certificates == nil {
		return
	}
	var refs []metrics.CertificateRef
	if obs != nil {
		for _, u := range obs.upstreams {
			refs = append(refs, u.certRefs...)
		}
	}
	r.Certificates.Set(tenant, refs)
}

// nextCertificateCheck is how long until a certificate of a valid upstream next enters the
// warning window or expires; zero when there is none.
func nextCertificateCheck(obs *observation, warning time.Duration) time.Duration {
	var next time.Duration
	for _, u := range obs.upstreams {
		if u.notAfter.IsZero() {
			continue
		}
		for _, at := range []time.Time{u.notAfter.Add(-warning), u.notAfter} {
			if d := at.Sub(obs.now); d > 0 && (next == 0 || d < next) {
				next = d
			}
		}
	}
	if next > 0 {
		next += time.Second // land just past the boundary
	}
	return next
}

// writeStatus writes the status computed from obs, and nothing when it is unchanged.
func (r *Reconciler) writeStatus(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs *observation) error {
	status := computeStatus(&tenant.Status, obs)
	status.GatewayConfig = gatewayConfig(&tenant.Spec, obs.dataPlane, status.Upstreams)
	if equality.Semantic.DeepEqual(status, tenant.Status) {
		return nil
	}
	wasReady := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady)
	ready := meta.FindStatusCondition(status.Conditions, v1alpha1.ConditionReady)
	before := tenant.DeepCopy()
	patch := client.MergeFrom(before)
	tenant.Status = status
	if err := r.Client.Status().Patch(ctx, tenant, patch); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	r.recordVerificationEvents(tenant, &before.Status, &status)
	if wasReady == nil || wasReady.Status != ready.Status || wasReady.Reason != ready.Reason {
		ctrl.LoggerFrom(ctx).Info("Tenant readiness changed", "ready", ready.Status, "reason", ready.Reason, "message", ready.Message)
		// Waiting for the proxy to roll out is progress, not a problem worth an event; a
		// certificate entering its warning window is worth one, though the tenant stays Ready.
		if ready.Status != metav1.ConditionTrue && ready.Reason != v1alpha1.ReasonProxyProgressing ||
			ready.Reason == v1alpha1.ReasonCertificateExpiringSoon {
			r.Recorder.Eventf(tenant, nil, corev1.EventTypeWarning, ready.Reason, "Reconcile", "%s", ready.Message)
		}
	}
	return nil
}

// SetupWithManager registers the reconciler and what it watches.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.certs = r.CertReader
	if r.Cache != nil {
		r.certs = newMemoSource(r.CertReader, r.Cache)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.GatewayTenant{}, indexUpstreamService, upstreamServices); err != nil {
		return fmt.Errorf("indexing GatewayTenants by Service: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.GatewayTenant{}, indexCertObject, certObjects); err != nil {
		return fmt.Errorf("indexing GatewayTenants by certificate reference: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		For(&v1alpha1.GatewayTenant{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&networkingv1.NetworkPolicy{}, notOwnCreations).
		Owns(&appsv1.Deployment{}, notOwnCreations).
		Owns(&corev1.ServiceAccount{}, notOwnCreations).
		Owns(&policyv1.PodDisruptionBudget{}, notOwnCreations).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.tenantsForService), notOwnCreations).
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.tenantsForCertObject("ConfigMap")), notOwnCreations).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.tenantsForCertObject("Secret")), notOwnCreations).
		// A tenant created, changed or deleted beside others changes which owns a Service port.
		Watches(&v1alpha1.GatewayTenant{}, handler.EnqueueRequestsFromMapFunc(r.tenantsOfNamespace),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.GatewayDataPlane{}, handler.EnqueueRequestsFromMapFunc(r.allTenants),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(r.tenantsForEndpointSlice))
	if r.ProxyStates != nil {
		b = b.WatchesRawSource(r.ProxyStates.Source())
	}
	if r.Proxy.Monitoring.PodMonitors {
		b = b.Owns(&monitoringv1.PodMonitor{}, notOwnCreations)
	}
	return b.Complete(r)
}

// tenantsForEndpointSlice maps an EndpointSlice to the tenants whose upstreams address its
// Service: their ready endpoints are in status.
func (r *Reconciler) tenantsForEndpointSlice(ctx context.Context, o client.Object) []reconcile.Request {
	svc := o.GetLabels()[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil
	}
	return r.tenantsForService(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: o.GetNamespace(), Name: svc}})
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
	return append(requests(tenants.Items), ownerRequest(o)...)
}

// ownerRequest is the request of the tenant controlling o, if one does.
func ownerRequest(o client.Object) []reconcile.Request {
	owner := metav1.GetControllerOf(o)
	if owner == nil || owner.Kind != "GatewayTenant" || owner.APIVersion != v1alpha1.GroupVersion.String() {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: owner.Name}}}
}

// certObjects is the index function: the ConfigMaps and Secrets the tenant's TLS upstreams
// reference, as "<Kind>/<name>".
func certObjects(o client.Object) []string {
	var keys []string
	for _, u := range o.(*v1alpha1.GatewayTenant).Spec.Upstreams {
		if u.TLS == nil {
			continue
		}
		for _, ref := range u.TLS.Validation.CACertificateRefs {
			keys = append(keys, caRefKind(ref)+"/"+string(ref.Name))
		}
		if ref := u.TLS.ClientCertificateRef; ref != nil {
			keys = append(keys, "Secret/"+ref.Name)
		}
		if usesWellKnown(u.TLS, v1alpha1.WellKnownCAOpenShiftServiceCA) {
			keys = append(keys, "ConfigMap/"+serviceCAConfigMap)
		}
	}
	return keys
}

// tenantsForCertObject maps a ConfigMap or Secret (metadata only: contents are never cached)
// to the tenants that reference it, and to the tenant that owns it.
func (r *Reconciler) tenantsForCertObject(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		tenants := &v1alpha1.GatewayTenantList{}
		if err := r.Client.List(ctx, tenants, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexCertObject: kind + "/" + o.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing tenants referencing object", "kind", kind, "object", client.ObjectKeyFromObject(o))
			return nil
		}
		return append(requests(tenants.Items), ownerRequest(o)...)
	}
}

// tenantsOfNamespace maps a tenant to the other tenants of its namespace.
func (r *Reconciler) tenantsOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	tenants := &v1alpha1.GatewayTenantList{}
	if err := r.Client.List(ctx, tenants, client.InNamespace(o.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing tenants of namespace", "namespace", o.GetNamespace())
		return nil
	}
	var reqs []reconcile.Request
	for _, req := range requests(tenants.Items) {
		if req.Name != o.GetName() {
			reqs = append(reqs, req)
		}
	}
	return reqs
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
