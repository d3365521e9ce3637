package gatewaytenant

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// notOwnCreations drops the creation of objects a tenant controls: the reconcile that created
// one has already written the status that follows from it, and a second pass would only read
// again. Changes and deletions of them (someone else's edit) still reconcile the tenant, and
// objects nobody controls (an upstream's Service, a CA ConfigMap) are unaffected.
var notOwnCreations = builder.WithPredicates(predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return len(ownerRequest(e.Object)) == 0 },
})

// getOwnedMeta reads the object named like obj into obj, for a decision on deleting it. The
// operator's client reads ConfigMaps from the API server (their contents are not cached);
// their metadata is in the manager's cache, which is all such a decision needs, so a tenant
// without a proxy ConfigMap costs no request to learn that.
func (r *Reconciler) getOwnedMeta(ctx context.Context, obj client.Object) error {
	key := client.ObjectKeyFromObject(obj)
	if _, ok := obj.(*corev1.ConfigMap); !ok || r.Cache == nil {
		return r.Client.Get(ctx, key, obj)
	}
	pm := &metav1.PartialObjectMetadata{}
	pm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	if err := r.Cache.Get(ctx, key, pm); err != nil {
		return err
	}
	obj.SetUID(pm.UID)
	obj.SetResourceVersion(pm.ResourceVersion)
	obj.SetOwnerReferences(pm.OwnerReferences)
	obj.SetLabels(pm.Labels)
	obj.SetAnnotations(pm.Annotations)
	return nil
}

// createUncached creates obj (a copy of desired) without reading it first when it is of a
// kind the client reads from the API server (ConfigMaps) and the metadata cache shows no such
// object: a new TLS tenant's proxy ConfigMap costs its create, not a read that finds nothing.
// It does nothing (OperationResultNone, nil) when that does not apply, and reports
// AlreadyExists when the cache was behind; the caller then reads and compares as usual.
func (r *Reconciler) createUncached(ctx context.Context, tenant *v1alpha1.GatewayTenant, desired, obj client.Object) (controllerutil.OperationResult, error) {
	if _, ok := obj.(*corev1.ConfigMap); !ok || r.Cache == nil {
		return controllerutil.OperationResultNone, nil
	}
	pm := &metav1.PartialObjectMetadata{}
	pm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	if err := r.Cache.Get(ctx, client.ObjectKeyFromObject(obj), pm); !apierrors.IsNotFound(err) {
		return controllerutil.OperationResultNone, nil // there is one (or the cache cannot say)
	}
	if err := r.mutate(tenant, desired, obj); err != nil {
		return controllerutil.OperationResultNone, err
	}
	if err := r.Client.Create(ctx, obj); err != nil {
		return controllerutil.OperationResultNone, err
	}
	return controllerutil.OperationResultCreated, nil
}
