package gatewaytenant

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
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
