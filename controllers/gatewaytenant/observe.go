package gatewaytenant

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

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
}

// observe reads everything the tenant depends on: the data planes, each upstream's Service
// and, for TLS upstreams, the certificates their references name.
func (r *Reconciler) observe(ctx context.Context, tenant *v1alpha1.GatewayTenant) (*observation, error) {
	obs := &observation{generation: tenant.Generation, now: r.Clock.Now()}
	planes := &v1alpha1.GatewayDataPlaneList{}
	if err := r.Client.List(ctx, planes); err != nil {
		return nil, fmt.Errorf("listing GatewayDataPlanes: %w", err)
	}
	obs.dataPlane = resolveDataPlane(&tenant.Spec, planes.Items)

	obs.upstreams = make([]upstreamResult, 0, len(tenant.Spec.Upstreams))
	for _, u := range tenant.Spec.Upstreams {
		res, err := r.observeUpstream(ctx, tenant.Namespace, u, obs.now)
		if err != nil {
			return nil, err
		}
		obs.upstreams = append(obs.upstreams, res)
	}
	obs.proxyUpstreams = proxyUpstreams(tenant, obs.upstreams)
	obs.proxyHost = proxyName(tenant.Name) + "." + tenant.Namespace + ".svc"
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
