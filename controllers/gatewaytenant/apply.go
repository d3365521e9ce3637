package gatewaytenant

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// The one rule by which every owned object is written. What the operator sets is compared with
// what is stored; what it leaves unset is the API server's (defaults) and is not compared:
//
//   - a field the desired object sets must hold exactly that value;
//   - a list or map the desired object sets must hold exactly its items, so that nothing is
//     added by hand to a policy, a selector or a pod;
//   - labels and annotations, of the object and of a pod template, must hold the desired keys
//     and values, and may hold more (kubectl rollout restart, other tools).
//
// When the stored object differs it is updated with the desired content, and drift of any
// owned kind is repaired; when it does not, nothing is written.

// content returns, for each kind the operator owns, pointers to what it manages of it.
func content(obj client.Object) []any {
	switch o := obj.(type) {
	case *networkingv1.NetworkPolicy:
		return []any{&o.Spec}
	case *appsv1.Deployment:
		return []any{&o.Spec}
	case *corev1.Service:
		return []any{&o.Spec}
	case *policyv1.PodDisruptionBudget:
		return []any{&o.Spec}
	case *corev1.ConfigMap:
		return []any{&o.Data, &o.BinaryData}
	case *corev1.ServiceAccount:
		return []any{&o.AutomountServiceAccountToken}
	case *monitoringv1.PodMonitor:
		return []any{&o.Spec}
	}
	panic(fmt.Sprintf("gatewaytenant: no content rule for %T", obj))
}

// merge makes existing carry desired's labels, annotations and content by the rule above, and
// says whether it changed anything.
func merge(desired, existing client.Object) bool {
	changed := false
	if m, ok := withKeys(existing.GetLabels(), desired.GetLabels()); ok {
		existing.SetLabels(m)
		changed = true
	}
	if m, ok := withKeys(existing.GetAnnotations(), desired.GetAnnotations()); ok {
		existing.SetAnnotations(m)
		changed = true
	}
	want, have := content(desired), content(existing)
	for i := range want {
		if !covers(want[i], have[i]) {
			changed = true
		}
	}
	if changed {
		for i := range want {
			reflect.ValueOf(have[i]).Elem().Set(reflect.ValueOf(want[i]).Elem())
		}
	}
	return changed
}

// covers says whether existing holds everything desired sets, by the rule above.
func covers(desired, existing any) bool {
	return coversValue(reflect.ValueOf(desired), reflect.ValueOf(existing))
}

var objectMetaType = reflect.TypeFor[metav1.ObjectMeta]()

func coversValue(d, e reflect.Value) bool {
	if d.Type() == objectMetaType {
		dm, em := d.Interface().(metav1.ObjectMeta), e.Interface().(metav1.ObjectMeta)
		return subset(dm.Labels, em.Labels) && subset(dm.Annotations, em.Annotations)
	}
	if _, ok := equality.Semantic.Equalities[d.Type()]; ok {
		return d.IsZero() || equality.Semantic.DeepEqual(d.Interface(), e.Interface())
	}
	switch d.Kind() {
	case reflect.Pointer, reflect.Interface:
		switch {
		case d.IsNil():
			return true
		case e.IsNil():
			return false
		}
		if k := d.Elem().Kind(); k != reflect.Struct && k != reflect.Slice && k != reflect.Map && k != reflect.Pointer {
			// A scalar the desired object points at is set, even when it is its zero value.
			return reflect.DeepEqual(d.Elem().Interface(), e.Elem().Interface())
		}
		return coversValue(d.Elem(), e.Elem())
	case reflect.Struct:
		for i := range d.NumField() {
			if !coversValue(d.Field(i), e.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if d.Len() == 0 {
			return true
		}
		if d.Len() != e.Len() {
			return false
		}
		for i := range d.Len() {
			if !coversValue(d.Index(i), e.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if d.Len() == 0 {
			return true
		}
		if d.Len() != e.Len() {
			return false
		}
		for _, k := range d.MapKeys() {
			ev := e.MapIndex(k)
			if !ev.IsValid() || !coversValue(d.MapIndex(k), ev) {
				return false
			}
		}
		return true
	default:
		return d.IsZero() || reflect.DeepEqual(d.Interface(), e.Interface())
	}
}

// withKeys returns have with every key of want set to want's value, and whether that
// changed have.
func withKeys(have, want map[string]string) (map[string]string, bool) {
	if subset(want, have) {
		return have, false
	}
	if have == nil {
		have = map[string]string{}
	}
	maps.Copy(have, want)
	return have, true
}

// subset says whether every key of want is in have with the same value.
func subset(want, have map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// apply creates the object named like desired, or updates it when it does not cover desired's
// labels and content, controlled by tenant. It writes nothing when the object already
// matches, and refuses to take over an object another owner controls.
func apply(ctx context.Context, r *Reconciler, tenant *v1alpha1.GatewayTenant, desired client.Object) error {
	obj := desired.DeepCopyObject().(client.Object)
	op, err := r.createUncached(ctx, tenant, desired, obj)
	if op == controllerutil.OperationResultNone && (err == nil || apierrors.IsAlreadyExists(err)) {
		obj = desired.DeepCopyObject().(client.Object)
		op, err = controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error { return r.mutate(tenant, desired, obj) })
	}
	if apierrors.IsAlreadyExists(err) {
		// The cache holds only objects that carry the operator's labels: this one exists with
		// them removed or changed. Read it from the API server and repair it.
		obj = desired.DeepCopyObject().(client.Object)
		op, err = r.repairUnlabelled(ctx, tenant, desired, obj)
	}
	kind := kindOf(r, obj)
	if err != nil {
		r.Recorder.Eventf(tenant, obj, corev1.EventTypeWarning, v1alpha1.EventReasonApplyFailed, "Apply", "writing %s %s failed: %v", kind, desired.GetName(), err)
		return fmt.Errorf("writing %s %s: %w", kind, desired.GetName(), err)
	}
	// Creating what the spec asks for is routine and shows in status; an object changed back
	// from someone else's edit is worth an event.
	if op == controllerutil.OperationResultUpdated {
		r.Recorder.Eventf(tenant, obj, corev1.EventTypeNormal, v1alpha1.EventReasonUpdated, "Apply", "%s %s updated", kind, desired.GetName())
	}
	// What was written (or found) is the stored object; desired takes it, so that the caller
	// can read its status.
	reflect.ValueOf(desired).Elem().Set(reflect.ValueOf(obj).Elem())
	return nil
}

// repairUnlabelled reads obj (named like desired) past the cache and updates it to desired.
func (r *Reconciler) repairUnlabelled(ctx context.Context, tenant *v1alpha1.GatewayTenant, desired, obj client.Object) (controllerutil.OperationResult, error) {
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(desired), obj); err != nil {
		return controllerutil.OperationResultNone, err
	}
	if err := r.mutate(tenant, desired, obj); err != nil {
		return controllerutil.OperationResultNone, err
	}
	if err := r.Client.Update(ctx, obj); err != nil {
		return controllerutil.OperationResultNone, err
	}
	return controllerutil.OperationResultUpdated, nil
}

// mutate makes obj, the stored object, carry desired's labels and content, controlled by
// tenant; it refuses an object another owner controls.
func (r *Reconciler) mutate(tenant *v1alpha1.GatewayTenant, desired, obj client.Object) error {
	if owner := metav1.GetControllerOf(obj); owner != nil && owner.UID != tenant.UID {
		return fmt.Errorf("%s %q is controlled by %s %q, not by this tenant; rename or delete it",
			kindOf(r, obj), obj.GetName(), owner.Kind, owner.Name)
	}
	merge(desired, obj)
	return controllerutil.SetControllerReference(tenant, obj, r.Scheme)
}

// delete removes an object the tenant no longer needs.
func (r *Reconciler) delete(ctx context.Context, tenant *v1alpha1.GatewayTenant, obj client.Object) error {
	kind := kindOf(r, obj)
	if err := r.Client.Delete(ctx, obj, client.Preconditions{UID: ptr.To(obj.GetUID())}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting %s %s: %w", kind, obj.GetName(), err)
	}
	r.Recorder.Eventf(tenant, obj, corev1.EventTypeNormal, v1alpha1.EventReasonDeleted, "Delete", "%s %s deleted", kind, obj.GetName())
	return nil
}

// deleteIfOwned deletes the object named like obj when the tenant controls it.
func (r *Reconciler) deleteIfOwned(ctx context.Context, tenant *v1alpha1.GatewayTenant, obj client.Object) error {
	if err := r.getOwnedMeta(ctx, obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(obj, tenant) {
		return nil
	}
	return r.delete(ctx, tenant, obj)
}

func kindOf(r *Reconciler, obj client.Object) string {
	gvk, err := r.Client.GroupVersionKindFor(obj)
	if err != nil {
		return fmt.Sprintf("%T", obj)
	}
	return gvk.Kind
}

// ensureNetworkPolicies writes the NetworkPolicies of every valid upstream and deletes those
// no longer wanted. The policies of an upstream that became invalid are kept as they were: a
// mistake in the spec never cuts off traffic that worked.
func (r *Reconciler) ensureNetworkPolicies(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs *observation) error {
	var errs []error
	wanted := map[string]bool{}
	for _, desired := range desiredNetworkPolicies(tenant, obs, r.Proxy) {
		wanted[desired.Name] = true
		errs = append(errs, apply(ctx, r, tenant, desired))
	}
	keep := map[string]bool{}
	for _, u := range obs.upstreams {
		keep[u.upstream.Name] = !u.valid()
	}
	keepProxy := hasTLS(tenant) && len(obs.proxyUpstreams) == 0

	owned := &networkingv1.NetworkPolicyList{}
	if err := r.Client.List(ctx, owned, client.InNamespace(tenant.Namespace), client.MatchingLabels{v1alpha1.LabelTenant: tenant.Name}); err != nil {
		return errors.Join(append(errs, fmt.Errorf("listing NetworkPolicies: %w", err))...)
	}
	for i := range owned.Items {
		np := &owned.Items[i]
		upstream, perUpstream := np.Labels[v1alpha1.LabelUpstream]
		if wanted[np.Name] || !metav1.IsControlledBy(np, tenant) || keep[upstream] || (!perUpstream && keepProxy) {
			continue
		}
		errs = append(errs, r.delete(ctx, tenant, np))
	}
	return errors.Join(errs...)
}

// ensureProxy writes the proxy's objects for the valid TLS upstreams and records the proxy
// Deployment as stored in obs. Without TLS upstreams it removes them; while TLS upstreams exist
// but none is valid it leaves them as they are, so that a broken reference never takes down a
// proxy that serves.
func (r *Reconciler) ensureProxy(ctx context.Context, tenant *v1alpha1.GatewayTenant, obs *observation) error {
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
	settings := r.Proxy
	size, err := settings.sizeFor(tenant)
	if err != nil {
		obs.proxySizeErr = err
		if size, err = r.storedSize(ctx, tenant, proxySize{replicas: settings.Replicas, resources: proxyResources(settings)}); err != nil {
			return err
		}
	}
	settings.Replicas, settings.Resources = size.replicas, size.resources
	dep := proxyDeployment(tenant, ups, config, settings, workloadLabels(obs.dataPlane))
	hold, err := r.holdImage(ctx, dep)
	if err != nil {
		return err
	}
	obs.proxyOutdated = hold
	errs := []error{
		r.ensurePodMonitor(ctx, tenant),
		apply(ctx, r, tenant, proxyConfigMap(tenant, config, ups)),
		apply(ctx, r, tenant, proxyServiceAccount(tenant)),
		apply(ctx, r, tenant, proxyService(tenant, ups)),
	}
	if err := apply(ctx, r, tenant, dep); err != nil {
		errs = append(errs, err)
	} else {
		obs.proxyDeployment = dep
	}
	if settings.Replicas > 1 {
		errs = append(errs, apply(ctx, r, tenant, proxyPDB(tenant)))
	} else {
		errs = append(errs, r.deleteIfOwned(ctx, tenant, &policyv1.PodDisruptionBudget{ObjectMeta: proxyMeta(tenant, proxyName(tenant.Name))}))
	}
	return errors.Join(errs...)
}

// deleteOwned removes every NetworkPolicy and proxy object the tenant controls.
func (r *Reconciler) deleteOwned(ctx context.Context, tenant *v1alpha1.GatewayTenant) error {
	owned := &networkingv1.NetworkPolicyList{}
	if err := r.Client.List(ctx, owned, client.InNamespace(tenant.Namespace), client.MatchingLabels{v1alpha1.LabelTenant: tenant.Name}); err != nil {
		return fmt.Errorf("listing NetworkPolicies: %w", err)
	}
	errs := []error{r.deleteProxy(ctx, tenant)}
	for i := range owned.Items {
		if metav1.IsControlledBy(&owned.Items[i], tenant) {
			errs = append(errs, r.delete(ctx, tenant, &owned.Items[i]))
		}
	}
	return errors.Join(errs...)
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
	if r.Proxy.Monitoring.PodMonitors {
		errs = append(errs, r.deleteIfOwned(ctx, tenant, &monitoringv1.PodMonitor{ObjectMeta: meta}))
	}
	return errors.Join(errs...)
}
