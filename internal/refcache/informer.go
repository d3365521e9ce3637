// Package refcache caches only the objects of a kind that the operator owns or that tenants
// reference, while it still watches the whole kind: one watch per kind on the API server, and
// memory that follows the tenants, not the cluster.
//
// An Informer stands in for client-go's shared informer behind controller-runtime's cache
// (cache.Options.NewInformer). Its watch sees every object of the kind; its store keeps those
// its Filter keeps, and tells for each group of objects (a Service, a ConfigMap, the
// EndpointSlices of one Service) whether it holds all of them: the group is resident. A
// group a tenant starts to reference after its objects last changed is not resident; the
// Reader reads it from the API server once and stores it (Load), and from then on its
// changes arrive through the watch like any other.
package refcache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Filter says which objects of one kind are kept, and how they group.
type Filter interface {
	// Ready blocks until Keep and Referenced can answer (the tenants' cache has synced).
	Ready(ctx context.Context) error
	// Keep says whether obj is the operator's own or referenced by a tenant now.
	Keep(obj client.Object) bool
	// Group is the group of obj: what a reader asks for at once ("namespace/name" of the
	// object itself, or of the Service of an EndpointSlice).
	Group(obj client.Object) string
	// Referenced lists every group tenants reference now.
	Referenced(ctx context.Context) ([]string, error)
	// Single says whether a group holds one object at most (its own name), so that an event
	// of a kept object is the whole group.
	Single() bool
}

// Informer is a toolscache.SharedIndexInformer whose store keeps what its Filter keeps.
type Informer struct {
	lw      toolscache.ListerWatcher
	objType runtime.Object
	filter  Filter
	name    string

	// mu guards the indexer's writes and the bookkeeping below, so that a load and the
	// watch's events apply in one order.
	mu        sync.Mutex
	indexer   toolscache.Indexer
	transform toolscache.TransformFunc
	resident  map[string]struct{}
	loads     map[string][]*load
	replaces  uint64

	// dispatchMu orders what handlers see.
	dispatchMu sync.Mutex
	handlers   []*registration

	reflector atomic.Pointer[toolscache.Reflector]
	synced    chan struct{}
	syncOnce  sync.Once
	started   atomic.Bool
	stopped   atomic.Bool
}

// load is one read from the API server in flight; an event of its group, or a relist, makes
// it dirty, and a dirty load is not stored (the watch brought something newer).
type load struct{ dirty bool }

var _ toolscache.SharedIndexInformer = &Informer{}

// NewInformer returns an informer over lw that keeps what filter keeps.
func NewInformer(lw toolscache.ListerWatcher, objType runtime.Object, indexers toolscache.Indexers, filter Filter, name string) *Informer {
	return &Informer{
		lw: &filteringLW{lw: lw, filter: filter}, objType: objType, filter: filter, name: name,
		indexer:  toolscache.NewIndexer(toolscache.DeletionHandlingMetaNamespaceKeyFunc, indexers),
		resident: map[string]struct{}{}, loads: map[string][]*load{}, synced: make(chan struct{}),
	}
}

// Resident says whether the store holds every object of group.
func (i *Informer) Resident(group string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	_, ok := i.resident[group]
	return ok
}

// Load reads group from the API server through read and, unless the watch brought a newer
// state of the group meanwhile, stores what it read and makes the group resident. It returns
// what read returned.
func (i *Informer) Load(ctx context.Context, group string, read func(ctx context.Context) ([]client.Object, error)) ([]client.Object, error) {
	l := &load{}
	i.mu.Lock()
	i.loads[group] = append(i.loads[group], l)
	i.mu.Unlock()
	objs, err := read(ctx)

	i.mu.Lock()
	defer i.mu.Unlock()
	ls := i.loads[group]
	for n, x := range ls {
		if x == l {
			ls = append(ls[:n], ls[n+1:]...)
			break
		}
	}
	if len(ls) == 0 {
		delete(i.loads, group)
	} else {
		i.loads[group] = ls
	}
	if err != nil || l.dirty {
		return objs, err
	}
	keep := map[string]bool{}
	for _, o := range objs {
		t, terr := i.transformed(o)
		if terr != nil {
			return objs, terr
		}
		key, kerr := toolscache.MetaNamespaceKeyFunc(t)
		if kerr != nil {
			return objs, kerr
		}
		keep[key] = true
		if _, err := i.upsertLocked(t); err != nil {
			return objs, err
		}
	}
	// What the store holds of the group and the read did not find is gone.
	members := i.indexer.List()
	if ns, _, ok := strings.Cut(group, "/"); ok {
		if inNS, err := i.indexer.ByIndex(toolscache.NamespaceIndex, ns); err == nil {
			members = inNS
		}
	}
	for _, o := range members {
		if co, ok := o.(client.Object); ok && i.filter.Group(co) == group {
			if key, _ := toolscache.MetaNamespaceKeyFunc(co); !keep[key] {
				_ = i.indexer.Delete(co)
			}
		}
	}
	i.resident[group] = struct{}{}
	return objs, nil
}

// transformed applies the transform, to a copy: what a reader was given stays as it is.
func (i *Informer) transformed(o client.Object) (any, error) {
	var obj any = o.DeepCopyObject()
	if i.transform == nil {
		return obj, nil
	}
	return i.transform(obj)
}

// upsertLocked stores obj unless the store holds a newer version; it returns the version it
// replaced (nil when none) and whether it stored.
func (i *Informer) upsertLocked(obj any) (old any, err error) {
	old, exists, err := i.indexer.Get(obj)
	if err != nil {
		return nil, err
	}
	if exists && newer(old, obj) {
		return nil, errStale
	}
	if exists {
		return old, i.indexer.Update(obj)
	}
	return nil, i.indexer.Add(obj)
}

var errStale = errors.New("the store holds a newer version")

// newer says whether a is a later version of the same object than b.
func newer(a, b any) bool {
	ma, err1 := meta.Accessor(a)
	mb, err2 := meta.Accessor(b)
	if err1 != nil || err2 != nil {
		return false
	}
	c, err := resourceversion.CompareResourceVersion(ma.GetResourceVersion(), mb.GetResourceVersion())
	return err == nil && c > 0
}

// touchLocked marks the loads of group dirty.
func (i *Informer) touchLocked(group string) {
	for _, l := range i.loads[group] {
		l.dirty = true
	}
}

// The reflector's store: Add, Update, Delete, Replace, Resync.

// Add applies a watch event of an added object.
func (i *Informer) Add(obj any) error { return i.Update(obj) }

// Resync does nothing: there is no resync period.
func (i *Informer) Resync() error { return nil }

// Update applies a watch event of an added or changed object.
func (i *Informer) Update(obj any) error {
	obj, err := i.applyTransform(obj)
	if err != nil {
		return err
	}
	co, group, keep, err := i.judge(obj)
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.touchLocked(group)
	if !keep {
		// No longer the operator's, nor referenced: forget it, and that its group was whole.
		_ = i.indexer.Delete(co)
		delete(i.resident, group)
		i.mu.Unlock()
		return nil
	}
	old, err := i.upsertLocked(co)
	if i.filter.Single() && err == nil {
		i.resident[group] = struct{}{}
	}
	i.mu.Unlock()
	switch {
	case errors.Is(err, errStale):
		return nil
	case err != nil:
		return err
	}
	i.dispatch(false, func(h toolscache.ResourceEventHandler) {
		if old != nil {
			h.OnUpdate(old, co)
		} else {
			h.OnAdd(co, false)
		}
	})
	return nil
}

// judge is what the filter says of a watch event's object: its group, and whether it is kept.
func (i *Informer) judge(obj any) (co client.Object, group string, keep bool, err error) {
	co, ok := obj.(client.Object)
	if !ok {
		return nil, "", false, fmt.Errorf("%s: unexpected %T", i.name, obj)
	}
	return co, i.filter.Group(co), i.filter.Keep(co), nil
}

// Delete applies a watch event of a deleted object.
func (i *Informer) Delete(obj any) error {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	co, group, keep, err := i.judge(obj)
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.touchLocked(group)
	old, existed, _ := i.indexer.Get(co)
	if existed {
		_ = i.indexer.Delete(old)
	}
	if keep {
		if i.filter.Single() {
			i.resident[group] = struct{}{} // known not to exist
		}
	} else {
		delete(i.resident, group)
	}
	i.mu.Unlock()
	if existed {
		i.dispatch(false, func(h toolscache.ResourceEventHandler) { h.OnDelete(old) })
	}
	return nil
}

// Replace applies a full list: the initial one, or a relist after the watch fell behind.
func (i *Informer) Replace(list []any, _ string) error {
	refs, err := i.filter.Referenced(context.Background())
	if err != nil {
		return err
	}
	kept := make([]any, 0, len(list))
	for _, obj := range list {
		obj, err := i.applyTransform(obj)
		if err != nil {
			return err
		}
		if co, ok := obj.(client.Object); ok && i.filter.Keep(co) {
			kept = append(kept, co)
		}
	}
	i.mu.Lock()
	for _, ls := range i.loads {
		for _, l := range ls {
			l.dirty = true
		}
	}
	olds := i.indexer.List()
	if err := i.indexer.Replace(kept, ""); err != nil {
		i.mu.Unlock()
		return err
	}
	i.resident = make(map[string]struct{}, len(refs))
	for _, g := range refs {
		i.resident[g] = struct{}{}
	}
	i.replaces++
	i.mu.Unlock()

	i.dispatch(true, func(h toolscache.ResourceEventHandler) {
		seen := map[string]bool{}
		for _, o := range kept {
			k, _ := toolscache.MetaNamespaceKeyFunc(o)
			seen[k] = true
			h.OnAdd(o, true)
		}
		for _, o := range olds {
			if k, _ := toolscache.MetaNamespaceKeyFunc(o); !seen[k] {
				h.OnDelete(toolscache.DeletedFinalStateUnknown{Key: k, Obj: o})
			}
		}
	})
	return nil
}

func (i *Informer) applyTransform(obj any) (any, error) {
	i.mu.Lock()
	t := i.transform
	i.mu.Unlock()
	if t == nil {
		return obj, nil
	}
	return t(obj)
}

// NewInformerFunc is controller-runtime's cache.Options.NewInformer: the kinds filters names
// get an Informer that keeps what their Filter keeps, every other kind client-go's shared
// informer. One more filtered kind is one more entry.
func NewInformerFunc(scheme *runtime.Scheme, filters map[schema.GroupKind]Filter) func(toolscache.ListerWatcher, runtime.Object, time.Duration, toolscache.Indexers) toolscache.SharedIndexInformer {
	return func(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
		var gvk schema.GroupVersionKind
		if pm, ok := obj.(*metav1.PartialObjectMetadata); ok {
			gvk = pm.GroupVersionKind()
		} else if k, err := apiutil.GVKForObject(obj, scheme); err == nil {
			gvk = k
		}
		if f, ok := filters[gvk.GroupKind()]; ok {
			return NewInformer(lw, obj, indexers, f, gvk.Kind)
		}
		return toolscache.NewSharedIndexInformer(lw, obj, resync, indexers)
	}
}
