package gatewaytenant

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// hasTLS says whether any upstream of the spec speaks TLS.
func hasTLS(tenant *v1alpha1.GatewayTenant) bool {
	for _, u := range tenant.Spec.Upstreams {
		if u.TLS != nil {
			return true
		}
	}
	return false
}

// ensureProxy writes the proxy's objects for the valid TLS upstreams. Without TLS upstreams
// it removes them; while TLS upstreams exist but none is valid it leaves them as they are, so
// that a broken reference never takes down a proxy that serves.
func (r *Reconciler) ensureProxy(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs observation) error {
	if !hasTLS(tenant) {
		return r.deleteProxy(ctx, tenant)
	}
	ups := obs.proxyUpstreams
	if len(ups) == 0 {
		return nil
	}
	config, err := proxyConfig(ups)
	if err != nil {
		return err
	}
	cm := proxyConfigMap(tenant, config)
	sa := proxyServiceAccount(tenant)
	svc := proxyService(tenant, ups)
	dep := proxyDeployment(tenant, ups, config, r.Proxy)
	errs := []error{
		apply(ctx, r, tenant, cm, func(e *corev1.ConfigMap) { e.Data, e.BinaryData = cm.Data, nil }),
		apply(ctx, r, tenant, sa, func(e *corev1.ServiceAccount) { e.AutomountServiceAccountToken = sa.AutomountServiceAccountToken }),
		apply(ctx, r, tenant, svc, hashed(svc.Spec, func(e *corev1.Service) { svc.Spec.DeepCopyInto(&e.Spec) })),
		apply(ctx, r, tenant, dep, hashed(dep.Spec, func(e *appsv1.Deployment) { dep.Spec.DeepCopyInto(&e.Spec) })),
	}
	if r.Proxy.Replicas > 1 {
		pdb := proxyPDB(tenant)
		errs = append(errs, apply(ctx, r, tenant, pdb, hashed(pdb.Spec, func(e *policyv1.PodDisruptionBudget) { pdb.Spec.DeepCopyInto(&e.Spec) })))
	} else {
		errs = append(errs, r.deleteIfOwned(ctx, tenant, &policyv1.PodDisruptionBudget{ObjectMeta: proxyMeta(tenant, proxyName(tenant.Name))}))
	}
	return errors.Join(errs...)
}

// hashed wraps a spec setter for kinds whose API defaults fill in many fields: it sets the
// spec, and records its hash, only when the desired spec changed since the last write.
func hashed[T client.Object](spec any, setSpec func(T)) func(T) {
	h := specHash(spec)
	return func(existing T) {
		ann := existing.GetAnnotations()
		if ann[annotationSpecHash] == h {
			return
		}
		if ann == nil {
			ann = map[string]string{}
		}
		ann[annotationSpecHash] = h
		existing.SetAnnotations(ann)
		setSpec(existing)
	}
}

// deleteProxy removes every proxy object of the tenant.
func (r *Reconciler) deleteProxy(ctx context.Context, tenant *v1alpha1.GatewayTenant) error {
	meta := proxyMeta(tenant, proxyName(tenant.Name))
	var errs []error
	for _, obj := range []client.Object{
		&appsv1.Deployment{ObjectMeta: meta},
		&corev1.Service{ObjectMeta: meta},
		&corev1.ConfigMap{ObjectMeta: meta},
		&corev1.ServiceAccount{ObjectMeta: meta},
		&policyv1.PodDisruptionBudget{ObjectMeta: meta},
	} {
		errs = append(errs, r.deleteIfOwned(ctx, tenant, obj))
	}
	return errors.Join(errs...)
}

// deleteIfOwned deletes the object named like obj when the tenant controls it.
func (r *Reconciler) deleteIfOwned(ctx context.Context, tenant *v1alpha1.GatewayTenant, obj client.Object) error {
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(obj, tenant) {
		return nil
	}
	return r.delete(ctx, tenant, obj)
}

// proxyCondition is ProxyReady: the proxy Deployment has all its replicas available for its
// latest generation.
func (r *Reconciler) proxyCondition(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs observation) (metav1.Condition, error) {
	const typ = v1alpha1.ConditionProxyReady
	if !hasTLS(tenant) {
		return condition(typ, true, v1alpha1.ReasonNotRequired, "no upstream uses TLS, so no proxy runs"), nil
	}
	if len(obs.proxyUpstreams) == 0 {
		return condition(typ, false, v1alpha1.ReasonNoValidUpstreams, "no TLS upstream is valid, so the proxy is left as it is"), nil
	}
	dep := &appsv1.Deployment{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: tenant.Namespace, Name: proxyName(tenant.Name)}, dep)
	switch {
	case apierrors.IsNotFound(err):
		return condition(typ, false, v1alpha1.ReasonProxyProgressing, "the proxy Deployment is not created yet"), nil
	case err != nil:
		return metav1.Condition{}, fmt.Errorf("getting proxy Deployment: %w", err)
	}
	return deploymentCondition(dep), nil
}

// deploymentCondition judges a proxy Deployment from its status.
func deploymentCondition(dep *appsv1.Deployment) metav1.Condition {
	const typ = v1alpha1.ConditionProxyReady
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	if st.ObservedGeneration < dep.Generation || st.UpdatedReplicas < want || st.AvailableReplicas < want {
		return condition(typ, false, v1alpha1.ReasonProxyProgressing,
			fmt.Sprintf("proxy Deployment %s: %d of %d replicas updated and available", dep.Name, min(st.UpdatedReplicas, st.AvailableReplicas), want))
	}
	return condition(typ, true, v1alpha1.ReasonReady, fmt.Sprintf("proxy Deployment %s: %d replicas available", dep.Name, st.AvailableReplicas))
}
