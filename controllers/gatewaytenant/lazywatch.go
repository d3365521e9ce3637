package gatewaytenant

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// lazyWatch is a source of events that starts its source only once activated: the watch of
// the ConfigMaps certificate references name starts when a reconcile first reads one. Until a
// tenant names a ConfigMap, the manager receives none of the cluster's; and the controller
// does not wait for that watch to start its workers (lazyWatch is not a SyncingSource), so a
// cold start does not wait for every ConfigMap of the cluster either. The first read waits
// for it instead (the cache blocks until synced), and the reconciles after see its events.
type lazyWatch struct {
	src source.Source

	mu      sync.Mutex
	ctx     context.Context
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
	active  bool // asked for
	started bool
}

var _ source.Source = &lazyWatch{}

// Start keeps the controller's queue; the source starts now only if already asked for.
func (l *lazyWatch) Start(ctx context.Context, queue workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ctx, l.queue = ctx, queue
	return l.startLocked()
}

// activate starts the source once the controller has started; before, Start will.
func (l *lazyWatch) activate() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active = true
	return l.startLocked()
}

func (l *lazyWatch) startLocked() error {
	if !l.active || l.started || l.queue == nil {
		return nil
	}
	if err := l.src.Start(l.ctx, l.queue); err != nil {
		return err
	}
	l.started = true
	return nil
}

// activatingReader activates watch before reading an object of kind.
type activatingReader struct {
	client.Reader
	kind  schema.GroupKind
	watch *lazyWatch
}

func (a activatingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if pm, ok := obj.(*metav1.PartialObjectMetadata); ok && pm.GroupVersionKind().GroupKind() == a.kind {
		if err := a.watch.activate(); err != nil {
			return err
		}
	}
	return a.Reader.Get(ctx, key, obj, opts...)
}
