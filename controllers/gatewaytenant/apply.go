package gatewaytenant

import (
	"context"
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
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

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
	case *gwapiv1.BackendTLSPolicy:
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

// createOrUpdate creates the object named like desired, or updates it when it does not cover
// desired's labels and content, controlled by tenant. It writes nothing when the object
// already matches, and refuses to take over an object another owner controls. It returns the
// object as stored and what it did.
func (r *Reconciler) createOrUpdate(ctx context.Context, tenant *v1alpha1.GatewayTenant, desired client.Object) (client.Object, controllerutil.OperationResult, error) {
	obj := desired.DeepCopyObject().(client.Object)
	op, err := r.createUncached(ctx, tenant, desired, obj)
	if op == controllerutil.OperationResultNone && (err == nil || apierrors.IsAlreadyExists(err)) {
		obj = desired.DeepCopyObject().(client.Object)
		op, err = r.readAndWrite(ctx, r.Client, tenant, desired, obj)
	}
	if apierrors.IsAlreadyExists(err) {
		// The cache holds only objects that carry the operator's labels: this one exists with
		// them removed or changed. Read it from the API server and repair it.
		obj = desired.DeepCopyObject().(client.Object)
		op, err = r.readAndWrite(ctx, r.APIReader, tenant, desired, obj)
	}
	return obj, op, err
}

// readAndWrite reads obj (named like desired) through reader, then creates it when there is
// none, or updates it when it does not cover desired.
func (r *Reconciler) readAndWrite(ctx context.Context, reader client.Reader, tenant *v1alpha1.GatewayTenant, desired, obj client.Object) (controllerutil.OperationResult, error) {
	err := reader.Get(ctx, client.ObjectKeyFromObject(desired), obj)
	if apierrors.IsNotFound(err) {
		if err := r.mutate(tenant, desired, obj); err != nil {
			return controllerutil.OperationResultNone, err
		}
		return controllerutil.OperationResultCreated, r.send(ctx, obj, r.Client.Create)
	}
	if err != nil {
		return controllerutil.OperationResultNone, err
	}
	before := obj.DeepCopyObject()
	if err := r.mutate(tenant, desired, obj); err != nil {
		return controllerutil.OperationResultNone, err
	}
	if equality.Semantic.DeepEqual(before, obj) {
		return controllerutil.OperationResultNone, nil
	}
	return controllerutil.OperationResultUpdated, r.send(ctx, obj, func(ctx context.Context, obj client.Object, _ ...client.CreateOption) error {
		return r.Client.Update(ctx, obj)
	})
}

// send writes obj with write (a create or an update) and reads the stored object back into
// obj. A PodMonitor is sent as podMonitorAsSent makes it.
func (r *Reconciler) send(ctx context.Context, obj client.Object, write func(context.Context, client.Object, ...client.CreateOption) error) error {
	pm, ok := obj.(*monitoringv1.PodMonitor)
	if !ok {
		return write(ctx, obj)
	}
	u, err := podMonitorAsSent(pm)
	if err != nil {
		return err
	}
	if err := write(ctx, u); err != nil {
		return err
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, pm)
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

func kindOf(r *Reconciler, obj client.Object) string {
	gvk, err := r.Client.GroupVersionKindFor(obj)
	if err != nil {
		return fmt.Sprintf("%T", obj)
	}
	return gvk.Kind
}
