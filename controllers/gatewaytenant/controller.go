// Package gatewaytenant holds the GatewayTenant reconciler: it turns a tenant's upstreams
// into NetworkPolicies that let exactly the gateway's namespaces in and, for TLS upstreams, a
// proxy that verifies them or, where the data plane's gateway verifies them itself, a
// BackendTLSPolicy each, and reports in status what it could not do and why.
//
// One reconcile gathers, judges, writes, then sets status:
//   - observe.go reads everything into one observation, then judges it with pure functions:
//     validate.go (upstreams against their Services, the data plane), certificates.go (the
//     ConfigMaps and ClusterTrustBundles certsource.go read; the operator reads no Secret),
//     conflict.go (one owner per Service port), verified.go (the proxy replicas' reports),
//     material.go (what they report of the Secrets and pod certificates they load),
//     backendtlspolicy.go (what a BackendTLSPolicy can express, other policies on the same
//     port, the implementations' reports, the path kept while the data plane's mode changes),
//     proxyconfig.go (the proxy's configuration, rendered once);
//   - write.go writes the desired objects (resources.go, monitoring.go, backendtlspolicy.go)
//     by the one rule of apply.go, an upstream's new path before its old one goes, holds
//     image changes back (rollout.go) and sizes the proxy (sizing.go); what it did comes back
//     as an outcome;
//   - status.go computes the status once from the observation and the outcome, with
//     upstreams.go for each upstream; events.go tells people what changed.
package gatewaytenant

import (
	"context"
	"fmt"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/metrics"
)

// ControllerName names the controller in logs, events and metrics.
const ControllerName = "gatewaytenant"

// Indexes of GatewayTenants: by the Services their upstreams name, and by the ConfigMaps
// ("ConfigMap/<name>") and ClusterTrustBundles ("ClusterTrustBundle/<name>", or for a selector
// "ClusterTrustBundleSigner/<signer>") their certificate references name.
const (
	indexUpstreamService = "spec.upstreams.service"
	indexCertObject      = "spec.upstreams.tls.refs"
)

// Reconciler reconciles GatewayTenants.
type Reconciler struct {
	Client client.Client
	// CertReader reads the ConfigMaps and ClusterTrustBundles that CA references name,
	// straight from the API server. The operator reads no Secret.
	CertReader client.Reader
	// APIReader reads owned objects past the label-filtered cache, to repair one whose labels
	// were removed.
	APIReader client.Reader
	// Cache, when set, is the manager's cache: from the metadata of ConfigMaps (those of
	// ReferencedConfigMaps when set) and ClusterTrustBundles it holds, CA references are read
	// only when their object changed, and objects that do not exist are not read at all.
	Cache client.Reader
	// Referenced, when set, reads what tenants reference (Services, the metadata of
	// ConfigMaps, the EndpointSlices of a Service): from the manager's cache, which holds only
	// what tenants reference, and from the API server the first time a tenant references an
	// object the cache does not hold yet (internal/refcache). Without it, Client reads them.
	Referenced ReferencedReader
	// ReferencedConfigMaps, when set, is the cache that holds the metadata of the ConfigMaps
	// certificate references name (Cache then holds only the operator's own): the manager
	// watches them only from the first reconcile that reads one (lazywatch.go). Nil: Cache
	// holds them.
	ReferencedConfigMaps cache.Cache
	Scheme               *runtime.Scheme
	Recorder             events.EventRecorder
	Clock                clock.PassiveClock
	// Proxy configures every tenant's TLS proxy.
	Proxy ProxySettings
	// ExpiryWarning is how long before a certificate expires that it is reported.
	ExpiryWarning time.Duration
	// Rollout, when set, bounds how fast proxies change image (rollout.go).
	Rollout *Rollout
	// Certificates, when set, exports the expiry of every referenced certificate.
	Certificates *metrics.Certificates
	// ProxyStates holds what the tenants' proxy replicas report (nil: nothing is read, and
	// TLS upstreams get no Verified condition).
	ProxyStates *proxystate.Store
	// OperatorNamespace is admitted to the proxies' admin port; "" admits nobody.
	OperatorNamespace string
	// BackendTLSPolicies says that the API server serves gateway.networking.k8s.io/v1
	// BackendTLSPolicies (the manager looks at start): the reconciler reads and writes them,
	// and watches them. Without them, TLS upstreams of a data plane in BackendTLSPolicy mode
	// are refused.
	BackendTLSPolicies bool

	// Workers is how many tenants are reconciled at once; 1 when zero.
	Workers int

	certs certSource // CertReader, through a memo when Cache is set
}

// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaytenants,verbs=get;list;watch
// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaytenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaytenants/finalizers,verbs=update
// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaydataplanes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services;configmaps;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=certificates.k8s.io,resources=clustertrustbundles,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=backendtlspolicies,verbs=get;list;watch;create;update;patch;delete

// conflictRetry is when a reconcile whose write lost a race with another writer (409
// Conflict) is tried again. The winner's change also enqueues the tenant; this is the bound.
const conflictRetry = time.Second

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
	out := r.write(ctx, tenant, obs)
	r.recordWrites(tenant, out)
	failed := out.err()
	if out.conflicted && failed == nil {
		// Routine: someone else wrote the object in between. Its change enqueues the tenant
		// again; what this pass learned would be stale, so its status is not written.
		ctrl.LoggerFrom(ctx).V(1).Info("A write lost a race with another writer; trying again")
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	if err := r.writeStatus(ctx, tenant, obs, out); err != nil {
		return ctrl.Result{}, err
	}
	if failed != nil {
		return ctrl.Result{}, failed
	}
	next := obs.nextCheck()
	if out.held != nil && (next == 0 || out.held.retry < next) {
		next = out.held.retry
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
			refs = append(refs, obs.materials[u.upstream.Name].certRefs...)
		}
	}
	r.Certificates.Set(tenant, refs)
}

// writeStatus writes the status computed from obs and out, and nothing when it is unchanged.
func (r *Reconciler) writeStatus(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs *observation, out *outcome) error {
	status := computeStatus(&tenant.Status, obs, out, tenant.Name)
	if equality.Semantic.DeepEqual(status, tenant.Status) {
		return nil
	}
	before := tenant.DeepCopy()
	patch := client.MergeFrom(before)
	tenant.Status = status
	if err := r.Client.Status().Patch(ctx, tenant, patch); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	r.recordStatusChange(ctx, tenant, &before.Status, &status)
	return nil
}

// certSource is where certificate references are read: CertReader, through a memo when the
// manager's cache is set (SetupWithManager).
func (r *Reconciler) certSource() certSource {
	if r.certs != nil {
		return r.certs
	}
	return r.CertReader
}

// SetupWithManager registers the reconciler and what it watches.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	var configMaps *lazyWatch
	if r.ReferencedConfigMaps != nil {
		cm := &metav1.PartialObjectMetadata{}
		cm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kindConfigMap))
		configMaps = &lazyWatch{src: source.Kind[client.Object](r.ReferencedConfigMaps, cm, handler.EnqueueRequestsFromMapFunc(r.tenantsForCertObject))}
	}
	r.certs = r.CertReader
	if r.Cache != nil {
		var meta client.Reader = r.Cache
		if r.Referenced != nil {
			meta = r.Referenced
		}
		if configMaps != nil {
			meta = activatingReader{Reader: meta, kind: schema.GroupKind{Kind: kindConfigMap}, watch: configMaps}
		}
		r.certs = newMemoSource(r.CertReader, meta)
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
		// The operator's own; with ReferencedConfigMaps, those references name come through
		// configMaps.
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.tenantsForCertObject), notOwnCreations).
		// Cluster-scoped, readable by every tenant: metadata only, contents read on a change.
		WatchesMetadata(&certificatesv1.ClusterTrustBundle{}, handler.EnqueueRequestsFromMapFunc(r.tenantsForTrustBundle)).
		// A tenant created, changed or deleted beside others changes which owns a Service port.
		Watches(&v1alpha1.GatewayTenant{}, handler.EnqueueRequestsFromMapFunc(r.tenantsOfNamespace),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.GatewayDataPlane{}, handler.EnqueueRequestsFromMapFunc(r.allTenants),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(r.tenantsForEndpointSlice))
	if r.ProxyStates != nil {
		b = b.WatchesRawSource(r.ProxyStates.Source())
	}
	if configMaps != nil {
		b = b.WatchesRawSource(configMaps)
	}
	if r.Proxy.Monitoring.PodMonitors {
		b = b.Owns(&monitoringv1.PodMonitor{}, notOwnCreations)
	}
	if r.BackendTLSPolicies { // only when served: the cache maps every kind it watches
		b = b.Watches(&gwapiv1.BackendTLSPolicy{}, handler.EnqueueRequestsFromMapFunc(r.tenantsForBackendTLSPolicy), notOwnCreations)
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

// tenantsForBackendTLSPolicy maps a BackendTLSPolicy to the tenant that owns it (the
// implementation reported on it) and to the tenants naming a Service it targets (another
// policy may take precedence on their Service ports).
func (r *Reconciler) tenantsForBackendTLSPolicy(ctx context.Context, o client.Object) []reconcile.Request {
	reqs := ownerRequest(o)
	p, ok := o.(*gwapiv1.BackendTLSPolicy)
	if !ok {
		return reqs
	}
	for _, t := range p.Spec.TargetRefs {
		if t.Group == "" && t.Kind == "Service" {
			reqs = append(reqs, r.tenantsForService(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: o.GetNamespace(), Name: string(t.Name)}})...)
		}
	}
	return reqs
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
	if err := r.Client.List(ctx, tenants, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexUpstreamService: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
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

// Index keys of the ClusterTrustBundles a tenant references by signer.
const indexBundleSigner = "ClusterTrustBundleSigner/"

// certObjects is the index function: the ConfigMaps and ClusterTrustBundles the tenant's TLS
// upstreams reference (see indexCertObject). Secrets are not watched: the operator reads none.
func certObjects(o client.Object) []string {
	var keys []string
	for _, u := range o.(*v1alpha1.GatewayTenant).Spec.Upstreams {
		if u.TLS == nil {
			continue
		}
		for _, ref := range u.TLS.Validation.CACertificateRefs {
			switch kind := refKind(ref); {
			case kind == kindConfigMap || kind == kindClusterTrustBundle && ref.ClusterTrustBundleSelector == nil:
				keys = append(keys, kind+"/"+string(ref.Name))
			case kind == kindClusterTrustBundle:
				keys = append(keys, indexBundleSigner+string(ref.ClusterTrustBundleSelector.SignerName))
			}
		}
		if usesWellKnown(u.TLS, v1alpha1.WellKnownCAOpenShiftServiceCA) {
			keys = append(keys, kindConfigMap+"/"+serviceCAConfigMap)
		}
	}
	return keys
}

// tenantsForCertObject maps a ConfigMap (metadata only: contents are never cached) to the
// tenants that reference it, and to the tenant that owns it.
func (r *Reconciler) tenantsForCertObject(ctx context.Context, o client.Object) []reconcile.Request {
	return append(r.tenantsIndexedBy(ctx, o.GetNamespace(), kindConfigMap+"/"+o.GetName()), ownerRequest(o)...)
}

// tenantsForTrustBundle maps a ClusterTrustBundle (metadata only) to the tenants of every
// namespace that reference it by name or its signer by selector.
func (r *Reconciler) tenantsForTrustBundle(ctx context.Context, o client.Object) []reconcile.Request {
	reqs := r.tenantsIndexedBy(ctx, "", kindClusterTrustBundle+"/"+o.GetName())
	if signer := signerOfBundle(o.GetName()); signer != "" {
		reqs = append(reqs, r.tenantsIndexedBy(ctx, "", indexBundleSigner+signer)...)
	}
	return reqs
}

// tenantsIndexedBy are the tenants of namespace ("" for all) whose certificate references
// have the index key.
func (r *Reconciler) tenantsIndexedBy(ctx context.Context, namespace, key string) []reconcile.Request {
	tenants := &v1alpha1.GatewayTenantList{}
	if err := r.Client.List(ctx, tenants, client.InNamespace(namespace), client.MatchingFields{indexCertObject: key}, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing tenants referencing object", "object", key, "namespace", namespace)
		return nil
	}
	return requests(tenants.Items)
}

// tenantsOfNamespace maps a tenant to the other tenants of its namespace.
func (r *Reconciler) tenantsOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	tenants := &v1alpha1.GatewayTenantList{}
	if err := r.Client.List(ctx, tenants, client.InNamespace(o.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
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
	if err := r.Client.List(ctx, tenants, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing tenants")
		return nil
	}
	return requests(tenants.Items)
}

// requests names the tenants. The event handlers list them with client.UnsafeDisableDeepCopy:
// the cache's own objects, read for their names only.
func requests(tenants []v1alpha1.GatewayTenant) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(tenants))
	for i := range tenants {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&tenants[i])})
	}
	return reqs
}
