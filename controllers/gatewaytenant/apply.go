package gatewaytenant

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// apply creates or updates the object named like desired so that it carries desired's labels
// and, through setSpec, its spec, controlled by tenant. It writes nothing when the object
// already matches, and refuses to take over an object another owner controls.
func apply[T client.Object](ctx context.Context, r *Reconciler, tenant *v1alpha1.GatewayTenant, desired T, setSpec func(existing T)) error {
	obj := desired.DeepCopyObject().(T)
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error {
		if owner := metav1.GetControllerOf(obj); owner != nil && owner.UID != tenant.UID {
			return fmt.Errorf("%s %q is controlled by %s %q, not by this tenant; rename or delete it",
				kindOf(r, obj), obj.GetName(), owner.Kind, owner.Name)
		}
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range desired.GetLabels() {
			labels[k] = v
		}
		obj.SetLabels(labels)
		setSpec(obj)
		return controllerutil.SetControllerReference(tenant, obj, r.Scheme)
	})
	kind := kindOf(r, obj)
	if err != nil {
		r.Recorder.Eventf(tenant, obj, corev1.EventTypeWarning, v1alpha1.ReasonApplyFailed, "Apply", "writing %s %s failed: %v", kind, desired.GetName(), err)
		return fmt.Errorf("writing %s %s: %w", kind, desired.GetName(), err)
	}
	if op != controllerutil.OperationResultNone {
		r.Recorder.Eventf(tenant, obj, corev1.EventTypeNormal, string(op), "Apply", "%s %s %s", kind, desired.GetName(), op)
	}
	return nil
}

// delete removes an object the tenant no longer needs.
func (r *Reconciler) delete(ctx context.Context, tenant *v1alpha1.GatewayTenant, obj client.Object) error {
	kind := kindOf(r, obj)
	if err := r.Client.Delete(ctx, obj, client.Preconditions{UID: ptr.To(obj.GetUID())}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting %s %s: %w", kind, obj.GetName(), err)
	}
	r.Recorder.Eventf(tenant, obj, corev1.EventTypeNormal, "Deleted", "Delete", "%s %s deleted", kind, obj.GetName())
	return nil
}

func kindOf(r *Reconciler, obj client.Object) string {
	gvk, err := r.Client.GroupVersionKindFor(obj)
	if err != nil {
		return fmt.Sprintf("%T", obj)
	}
	return gvk.Kind
}
