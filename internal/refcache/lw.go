package refcache

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// filteringLW drops, as they are decoded, the objects of a list and the additions of a watch
// that the filter does not keep, so that the reflector never holds them, not even while it
// gathers the initial list. Changes and deletions pass: the store decides what they mean for
// what it holds.
type filteringLW struct {
	lw     toolscache.ListerWatcher
	filter Filter
}

var _ toolscache.ListerWatcherWithContext = &filteringLW{}

func (f *filteringLW) List(options metav1.ListOptions) (runtime.Object, error) {
	return f.ListWithContext(context.Background(), options)
}

func (f *filteringLW) Watch(options metav1.ListOptions) (watch.Interface, error) {
	return f.WatchWithContext(context.Background(), options)
}

func (f *filteringLW) ListWithContext(ctx context.Context, options metav1.ListOptions) (runtime.Object, error) {
	list, err := toolscache.ToListerWatcherWithContext(f.lw).ListWithContext(ctx, options)
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractListWithAlloc(list)
	if err != nil {
		return nil, err
	}
	kept := items[:0]
	for _, o := range items {
		if co, ok := o.(client.Object); ok && f.filter.Keep(co) {
			kept = append(kept, o)
		}
	}
	if err := meta.SetList(list, kept); err != nil {
		return nil, err
	}
	return list, nil
}

func (f *filteringLW) WatchWithContext(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
	w, err := toolscache.ToListerWatcherWithContext(f.lw).WatchWithContext(ctx, options)
	if err != nil {
		return nil, err
	}
	return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		if e.Type != watch.Added {
			return e, true
		}
		co, ok := e.Object.(client.Object)
		return e, !ok || f.filter.Keep(co)
	}), nil
}
