package gatewaytenant

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/refcache"
)

// References says, from the tenants' indexes in the manager's cache, which Services,
// ConfigMaps and EndpointSlices tenants reference: the filters of the manager's caches
// (internal/manager/cache.go). The manager's cache keeps of Services and EndpointSlices only
// what the operator owns or a tenant references; the cache of referenced ConfigMaps keeps
// only what a tenant references. The cache is bound once the manager exists (Bind).
type References struct {
	cache atomic.Pointer[cache.Cache]
}

// Bind sets the cache whose tenants are asked.
func (r *References) Bind(c cache.Cache) { r.cache.Store(&c) }

// Services is the filter of Services: the operator's own, and those upstreams address.
func (r *References) Services() refcache.Filter {
	return &refFilter{refs: r, own: true, single: true, index: indexUpstreamService,
		value: func(o client.Object) string { return o.GetName() }, referenced: upstreamServices}
}

// ConfigMaps is the filter of ConfigMaps (their metadata): those certificate references name.
// The operator's own are in the manager's cache, by label.
func (r *References) ConfigMaps() refcache.Filter {
	return &refFilter{refs: r, single: true, index: indexCertObject,
		value: func(o client.Object) string { return "ConfigMap/" + o.GetName() },
		referenced: func(o client.Object) []string {
			var names []string
			for _, k := range certObjects(o) {
				if name, ok := strings.CutPrefix(k, "ConfigMap/"); ok {
					names = append(names, name)
				}
			}
			return names
		}}
}

// EndpointSlices is the filter of EndpointSlices: the operator's own (its proxy Services'),
// and those of the Services upstreams address, grouped by Service.
func (r *References) EndpointSlices() refcache.Filter {
	return &refFilter{refs: r, own: true, index: indexUpstreamService,
		value: func(o client.Object) string { return o.GetLabels()[discoveryv1.LabelServiceName] }, referenced: upstreamServices}
}

// ReferencedReader reads what tenants reference (refcache.Reader): Get for one object,
// ListGroup for the EndpointSlices of one Service.
type ReferencedReader interface {
	client.Reader
	ListGroup(ctx context.Context, group types.NamespacedName, list client.ObjectList, opts ...client.ListOption) error
}

// clientReader reads what tenants reference through a client: a Reconciler without
// Referenced.
type clientReader struct{ client.Reader }

func (c clientReader) ListGroup(ctx context.Context, _ types.NamespacedName, list client.ObjectList, opts ...client.ListOption) error {
	return c.List(ctx, list, opts...)
}

func (r *Reconciler) referenced() ReferencedReader {
	if r.Referenced != nil {
		return r.Referenced
	}
	return clientReader{r.Client}
}

// refFilter keeps an object when a tenant of its namespace has value(object) in the index,
// and, with own, when the operator owns it; the object's group is its namespace and value.
type refFilter struct {
	refs       *References
	own        bool
	single     bool
	index      string
	value      func(client.Object) string
	referenced func(tenant client.Object) []string
}

func (f *refFilter) cache() (cache.Cache, error) {
	c := f.refs.cache.Load()
	if c == nil {
		return nil, errors.New("references: no cache bound")
	}
	return *c, nil
}

func (f *refFilter) Single() bool { return f.single }

// Ready waits for the tenants' cache to sync.
func (f *refFilter) Ready(ctx context.Context) error {
	c, err := f.cache()
	if err != nil {
		return err
	}
	inf, err := c.GetInformer(ctx, &v1alpha1.GatewayTenant{}, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	return nil
}

func (f *refFilter) Group(o client.Object) string { return o.GetNamespace() + "/" + f.value(o) }

func (f *refFilter) Keep(o client.Object) bool {
	if f.own && (o.GetLabels()[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue || len(ownerRequest(o)) > 0) {
		return true
	}
	v := f.value(o)
	if v == "" {
		return false
	}
	c, err := f.cache()
	if err != nil {
		return true // cannot tell: keep
	}
	tenants := &v1alpha1.GatewayTenantList{}
	if err := c.List(context.Background(), tenants, client.InNamespace(o.GetNamespace()),
		client.MatchingFields{f.index: v}, client.UnsafeDisableDeepCopy); err != nil {
		return true
	}
	return len(tenants.Items) > 0
}

// Referenced lists the groups every tenant references now.
func (f *refFilter) Referenced(ctx context.Context) ([]string, error) {
	c, err := f.cache()
	if err != nil {
		return nil, err
	}
	tenants := &v1alpha1.GatewayTenantList{}
	if err := c.List(ctx, tenants, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	var groups []string
	for i := range tenants.Items {
		for _, v := range f.referenced(&tenants.Items[i]) {
			groups = append(groups, tenants.Items[i].Namespace+"/"+v)
		}
	}
	return groups, nil
}
