package refcache

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Reader reads what tenants reference: from the cache when it holds the whole group, else
// from the API server, once (the Informer then holds it). Kinds the cache does not filter are
// read from the cache as they are.
type Reader struct {
	Cache cache.Cache
	// Caches hold the kinds they name instead of Cache.
	Caches map[schema.GroupKind]cache.Cache
	Direct client.Reader
	Scheme *runtime.Scheme
}

// cacheFor is the cache that holds kind gvk.
func (r *Reader) cacheFor(gvk schema.GroupVersionKind) cache.Cache {
	if c, ok := r.Caches[gvk.GroupKind()]; ok {
		return c
	}
	return r.Cache
}

// Get reads the object key names; its group is the object itself.
func (r *Reader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	gvk, err := r.gvk(obj)
	if err != nil {
		return err
	}
	inf, err := r.informer(ctx, obj, gvk)
	if err != nil {
		return err
	}
	group := key.String()
	if inf == nil || inf.Resident(group) {
		return r.cacheFor(gvk).Get(ctx, key, obj, opts...)
	}
	objs, err := inf.Load(ctx, group, func(ctx context.Context) ([]client.Object, error) {
		fresh, ok := obj.DeepCopyObject().(client.Object)
		if !ok {
			return nil, fmt.Errorf("cannot copy %T", obj)
		}
		if err := r.Direct.Get(ctx, key, fresh); err != nil {
			return nil, client.IgnoreNotFound(err)
		}
		return []client.Object{fresh}, nil
	})
	switch {
	case err != nil:
		return err
	case len(objs) == 0:
		return apierrors.NewNotFound(schema.GroupResource{Group: gvk.Group, Resource: strings.ToLower(gvk.Kind)}, key.Name)
	}
	reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(objs[0]).Elem())
	return nil
}

// List lists from the cache as it is; ListGroup reads a group that may not be resident.
func (r *Reader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	gvk, err := r.gvk(list)
	if err != nil {
		return err
	}
	gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	return r.cacheFor(gvk).List(ctx, list, opts...)
}

// ListGroup lists the objects of the group namespace/name that opts select (opts must select
// exactly the group, as the Filter of the kind groups).
func (r *Reader) ListGroup(ctx context.Context, group types.NamespacedName, list client.ObjectList, opts ...client.ListOption) error {
	gvk, err := r.gvk(list)
	if err != nil {
		return err
	}
	gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	inf, err := r.informer(ctx, list, gvk)
	if err != nil {
		return err
	}
	if inf == nil || inf.Resident(group.String()) {
		return r.cacheFor(gvk).List(ctx, list, opts...)
	}
	fresh, ok := list.DeepCopyObject().(client.ObjectList)
	if !ok {
		return fmt.Errorf("cannot copy %T", list)
	}
	if _, err := inf.Load(ctx, group.String(), func(ctx context.Context) ([]client.Object, error) {
		if err := r.Direct.List(ctx, fresh, opts...); err != nil {
			return nil, err
		}
		items, err := meta.ExtractList(fresh)
		if err != nil {
			return nil, err
		}
		objs := make([]client.Object, 0, len(items))
		for _, it := range items {
			if o, ok := it.(client.Object); ok {
				objs = append(objs, o)
			}
		}
		return objs, nil
	}); err != nil {
		return err
	}
	reflect.ValueOf(list).Elem().Set(reflect.ValueOf(fresh).Elem())
	return nil
}

func (r *Reader) gvk(obj runtime.Object) (schema.GroupVersionKind, error) {
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		return o.GroupVersionKind(), nil
	case *metav1.PartialObjectMetadataList:
		return o.GroupVersionKind(), nil
	}
	return apiutil.GVKForObject(obj, r.Scheme)
}

// informer is the Informer of the kind of obj (an object or a list of objects of kind gvk),
// nil when the cache does not filter that kind.
func (r *Reader) informer(ctx context.Context, obj runtime.Object, gvk schema.GroupVersionKind) (*Informer, error) {
	var i cache.Informer
	var err error
	switch obj.(type) {
	case *metav1.PartialObjectMetadata, *metav1.PartialObjectMetadataList:
		pm := &metav1.PartialObjectMetadata{}
		pm.SetGroupVersionKind(gvk)
		i, err = r.cacheFor(gvk).GetInformer(ctx, pm)
	default:
		i, err = r.cacheFor(gvk).GetInformerForKind(ctx, gvk)
	}
	if err != nil {
		return nil, err
	}
	inf, _ := i.(*Informer)
	return inf, nil
}
