package refcache

import (
	"context"
	"errors"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// What makes an Informer a toolscache.SharedIndexInformer: event handlers, running the
// reflector, and the informer's state. Handlers are called in the order the store changed,
// on the goroutine that changed it (the reflector's, or a loader's): controller-runtime's
// handlers only put requests in work queues.

// registration is one handler; it has synced once it was told of the initial list.
type registration struct {
	handler toolscache.ResourceEventHandler
	synced  chan struct{}
}

func (r *registration) HasSynced() bool {
	select {
	case <-r.synced:
		return true
	default:
		return false
	}
}

func (r *registration) HasSyncedChecker() toolscache.DoneChecker {
	return doneChecker{"handler", r.synced}
}

type doneChecker struct {
	name string
	done chan struct{}
}

func (d doneChecker) Name() string          { return d.name }
func (d doneChecker) Done() <-chan struct{} { return d.done }

// dispatch calls fn with every handler. A list (list true) syncs the handlers that had not
// been told of one, and the informer.
func (i *Informer) dispatch(list bool, fn func(toolscache.ResourceEventHandler)) {
	i.dispatchMu.Lock()
	defer i.dispatchMu.Unlock()
	for _, r := range i.handlers {
		if !list && !r.HasSynced() {
			continue
		}
		fn(r.handler)
		if !r.HasSynced() {
			close(r.synced)
		}
	}
	if list {
		i.syncOnce.Do(func() { close(i.synced) })
	}
}

// AddEventHandler adds a handler; once the informer has synced, it is told of every object
// held at once.
func (i *Informer) AddEventHandler(h toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error) {
	i.dispatchMu.Lock()
	defer i.dispatchMu.Unlock()
	if i.stopped.Load() {
		return nil, errors.New("the informer has stopped")
	}
	r := &registration{handler: h, synced: make(chan struct{})}
	if i.HasSynced() {
		for _, o := range i.indexer.List() {
			h.OnAdd(o, true)
		}
		close(r.synced)
	}
	i.handlers = append(i.handlers, r)
	return r, nil
}

// AddEventHandlerWithResyncPeriod adds a handler; there is no resync.
func (i *Informer) AddEventHandlerWithResyncPeriod(h toolscache.ResourceEventHandler, _ time.Duration) (toolscache.ResourceEventHandlerRegistration, error) {
	return i.AddEventHandler(h)
}

// AddEventHandlerWithOptions adds a handler; there is no resync.
func (i *Informer) AddEventHandlerWithOptions(h toolscache.ResourceEventHandler, _ toolscache.HandlerOptions) (toolscache.ResourceEventHandlerRegistration, error) {
	return i.AddEventHandler(h)
}

// RemoveEventHandler removes a handler.
func (i *Informer) RemoveEventHandler(handle toolscache.ResourceEventHandlerRegistration) error {
	i.dispatchMu.Lock()
	defer i.dispatchMu.Unlock()
	for n, r := range i.handlers {
		if r == handle {
			i.handlers = append(i.handlers[:n], i.handlers[n+1:]...)
			return nil
		}
	}
	return nil
}

// GetStore returns the store readers read.
func (i *Informer) GetStore() toolscache.Store { return i.indexer }

// GetIndexer returns the store readers read.
func (i *Informer) GetIndexer() toolscache.Indexer { return i.indexer }

// AddIndexers adds indexes to the store.
func (i *Informer) AddIndexers(indexers toolscache.Indexers) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.indexer.AddIndexers(indexers)
}

// GetController returns nil: the reflector runs inside Run.
func (i *Informer) GetController() toolscache.Controller { return nil }

// Run runs the informer until stopCh closes.
func (i *Informer) Run(stopCh <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	i.RunWithContext(ctx)
}

// RunWithContext waits for the filter to be ready, then lists and watches the kind until ctx
// ends.
func (i *Informer) RunWithContext(ctx context.Context) {
	if i.started.Swap(true) {
		return
	}
	defer i.stopped.Store(true)
	if err := i.filter.Ready(ctx); err != nil {
		return
	}
	logger := klog.FromContext(ctx)
	r := toolscache.NewReflectorWithOptions(i.lw, i.objType, i, toolscache.ReflectorOptions{Name: i.name, Logger: &logger})
	i.reflector.Store(r)
	r.RunWithContext(ctx)
}

// HasSynced says whether the initial list is in the store.
func (i *Informer) HasSynced() bool {
	select {
	case <-i.synced:
		return true
	default:
		return false
	}
}

// HasSyncedChecker completes when the initial list is in the store.
func (i *Informer) HasSyncedChecker() toolscache.DoneChecker {
	return doneChecker{i.name, i.synced}
}

// LastSyncResourceVersion is the reflector's.
func (i *Informer) LastSyncResourceVersion() string {
	if r := i.reflector.Load(); r != nil {
		return r.LastSyncResourceVersion()
	}
	return ""
}

// SetWatchErrorHandler is accepted and not used: the reflector's default logs and retries.
func (i *Informer) SetWatchErrorHandler(toolscache.WatchErrorHandler) error { return nil }

// SetWatchErrorHandlerWithContext is accepted and not used, as SetWatchErrorHandler.
func (i *Informer) SetWatchErrorHandlerWithContext(toolscache.WatchErrorHandlerWithContext) error {
	return nil
}

// SetTransform sets the transform applied before anything is stored.
func (i *Informer) SetTransform(t toolscache.TransformFunc) error {
	if i.started.Load() {
		return errors.New("the informer has started")
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.transform = t
	return nil
}

// IsStopped says whether Run has returned.
func (i *Informer) IsStopped() bool { return i.stopped.Load() }
