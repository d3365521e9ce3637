package gatewaytenant

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// observation is everything one reconcile learned; the desired objects and the status are pure
// functions of the tenant and it.
type observation struct {
	generation int64
	dataPlane  dataPlaneResult
	upstreams  []upstreamResult
	// proxyUpstreams are the TLS upstreams the proxy serves, with their ports.
	proxyUpstreams []proxyUpstream
	// proxyHost is the gateway host of the proxy Service: <name>.<namespace>.svc.
	proxyHost string
	// proxyDeployment is the proxy Deployment as stored after this reconcile wrote it; nil when
	// it was not written.
	proxyDeployment *appsv1.Deployment
	// proxyOutdated, when set, says the proxy keeps an older image until the rollout
	// bound lets its upgrade go ahead.
	proxyOutdated *outdated
	// proxySizeErr says why the tenant's spec.proxy is refused; the proxy keeps its size.
	proxySizeErr error
	// applyErr is the error writing child objects, if any.
	applyErr error
	// now is when the observation was made.
	now time.Time
	// conflict, when set, says which older GatewayTenant owns a Service port this one names;
	// nothing is written for this one.
	conflict string
	// dataPath is what the proxy replicas and EndpointSlices say of the data path.
	dataPath dataPath
	// operatorNamespace may reach the proxy's admin port; "" opens it to nobody.
	operatorNamespace string
}

// observe reads everything the tenant depends on: the data planes, each upstream's Service
// and, for TLS upstreams, the certificates their references name.
func (r *Reconciler) observe(ctx context.Context, tenant *v1alpha1.GatewayTenant) (*observation, error) {
	obs := &observation{generation: tenant.Generation, now: r.Clock.Now(), operatorNamespace: r.OperatorNamespace}
	var err error
	if obs.conflict, err = r.conflict(ctx, tenant); err != nil || obs.conflict != "" {
		return obs, err
	}
	last, err := r.lastGoodUpstreams(ctx, tenant)
	if err != nil {
		return nil, err
	}
	planes := &v1alpha1.GatewayDataPlaneList{}
	if err := r.Client.List(ctx, planes); err != nil {
		return nil, fmt.Errorf("listing GatewayDataPlanes: %w", err)
	}
	obs.dataPlane = resolveDataPlane(&tenant.Spec, planes.Items)

	obs.upstreams = make([]upstreamResult, 0, len(tenant.Spec.Upstreams))
	first := map[string]string{} // Service port -> the first upstream naming it
	for _, u := range tenant.Spec.Upstreams {
		target := serviceTarget(u)
		if earlier, dup := first[target]; dup {
			obs.upstreams = append(obs.upstreams, upstreamResult{upstream: u, reason: v1alpha1.ReasonDuplicateServicePort,
				message: fmt.Sprintf("upstream %q: upstream %q already exposes %s; remove one of the two", u.Name, earlier, target)})
			continue
		}
		first[target] = u.Name
		res, err := r.observeUpstream(ctx, tenant.Namespace, u, obs.now)
		if err != nil {
			return nil, err
		}
		obs.upstreams = append(obs.upstreams, res)
	}
	obs.proxyUpstreams = proxyUpstreams(tenant, withLastGood(obs.upstreams, last))
	obs.proxyHost = proxyName(tenant.Name) + "." + tenant.Namespace + ".svc"
	if err := r.observeDataPath(ctx, tenant, obs); err != nil {
		return nil, err
	}
	return obs, nil
}

// observeUpstream validates one upstream against its Service and, when it speaks TLS, its
// certificates.
func (r *Reconciler) observeUpstream(ctx context.Context, namespace string, u v1alpha1.Upstream, now time.Time) (upstreamResult, error) {
	var svc *corev1.Service
	if name, ns := splitHost(u.Host); ns == namespace {
		svc = &corev1.Service{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, svc)
		switch {
		case apierrors.IsNotFound(err):
			svc = nil
		case err != nil:
			return upstreamResult{}, fmt.Errorf("getting Service %s/%s: %w", ns, name, err)
		}
	}
	res := checkUpstream(namespace, u, svc)
	if !res.valid() || u.TLS == nil {
		return res, nil
	}
	cc, err := checkCertificates(ctx, r.certs, namespace, u, now, r.ExpiryWarning)
	if err != nil {
		return upstreamResult{}, err
	}
	if cc.reason != "" {
		res.reason, res.message = cc.reason, cc.message
	} else {
		res.message = fmt.Sprintf("upstream %q: the gateway reaches it through the proxy, which verifies its certificate", u.Name)
	}
	res.warning, res.notAfter, res.certRefs = cc.expiring, cc.notAfter, cc.refs
	return res, nil
}

// conflict says, when an older GatewayTenant of the namespace (by creation time, then name:
// Gateway API's rule) exposes a Service port this tenant also names, which one and what; empty
// otherwise. One tenant owns a Service port: two could open the same pods both directly and
// through a proxy, around its verification.
func (r *Reconciler) conflict(ctx context.Context, tenant *v1alpha1.GatewayTenant) (string, error) {
	tenants := &v1alpha1.GatewayTenantList{}
	if err := r.Client.List(ctx, tenants, client.InNamespace(tenant.Namespace)); err != nil {
		return "", fmt.Errorf("listing GatewayTenants of namespace %s: %w", tenant.Namespace, err)
	}
	mine := map[string]bool{}
	for _, u := range tenant.Spec.Upstreams {
		mine[serviceTarget(u)] = true
	}
	var winner *v1alpha1.GatewayTenant
	var shared string
	for i := range tenants.Items {
		t := &tenants.Items[i]
		if t.Name == tenant.Name || !t.DeletionTimestamp.IsZero() || !olderThan(t, tenant) || (winner != nil && olderThan(winner, t)) {
			continue
		}
		for _, u := range t.Spec.Upstreams {
			if mine[serviceTarget(u)] {
				winner, shared = t, serviceTarget(u)
				break
			}
		}
	}
	if winner == nil {
		return "", nil
	}
	return fmt.Sprintf("GatewayTenant %q already exposes %s: it is older (created %s), and one GatewayTenant owns a Service port. "+
		"Nothing is written for %q: move its upstreams into %q, or expose another Service or port",
		winner.Name, shared, winner.CreationTimestamp.UTC().Format(time.RFC3339), tenant.Name, winner.Name), nil
}

// serviceTarget is the Service port an upstream names, "<host> port <port>".
func serviceTarget(u v1alpha1.Upstream) string {
	return fmt.Sprintf("%s port %d", u.Host, u.Port)
}

// olderThan orders tenants by creation time, then by name.
func olderThan(a, b *v1alpha1.GatewayTenant) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// lastGoodUpstreams reads, from the proxy ConfigMap, the TLS upstreams as the proxy last
// served them, by name; empty when there is no proxy.
func (r *Reconciler) lastGoodUpstreams(ctx context.Context, tenant *v1alpha1.GatewayTenant) (map[string]upstreamResult, error) {
	if !hasTLS(tenant) {
		return nil, nil
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: tenant.Namespace, Name: proxyName(tenant.Name)}}
	err := r.getOwnedMeta(ctx, cm) // the record is an annotation: metadata is enough
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("getting proxy ConfigMap: %w", err)
	case !metav1.IsControlledBy(cm, tenant):
		return nil, nil
	}
	return decodeLastGood(cm.Annotations[annotationLastGood]), nil
}
