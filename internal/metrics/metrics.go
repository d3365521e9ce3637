// Package metrics holds the manager's domain metrics, served with controller-runtime's own
// (on the manager's metrics endpoint):
//
//   - gatewaytenant_tenants{ready, reason}: GatewayTenants by their Ready condition's status
//     and reason, counted from the events of the manager's tenant cache, so that it never
//     goes stale and a scrape costs nothing per tenant. The reasons are the API's constants,
//     so the label values are bounded.
//   - gatewaytenant_certificate_not_after_timestamp_seconds{namespace, tenant, upstream,
//     kind, ref}: the earliest notAfter (Unix seconds) of each certificate a tenant
//     references, the cert-manager convention (alert on it minus time()). One series per
//     reference, removed when the tenant goes or stops referencing it. The operator reads
//     ConfigMaps and ClusterTrustBundles itself; of Secrets and pod certificates, which it
//     does not read, it exports what the proxy replicas report they loaded (the soonest).
//
// The gateway's proxy exports its own metrics (docs/proxy.md); config/prometheus alerts on both.
package metrics

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// Metric names.
const (
	TenantsName         = "gatewaytenant_tenants"
	CertificateNotAfter = "gatewaytenant_certificate_not_after_timestamp_seconds"
)

// Kinds of referenced certificates (label kind).
const (
	KindCA     = "ca"
	KindClient = "client"
)

// tenantsDesc is the gauge of tenants by Ready status and reason.
var tenantsDesc = prometheus.NewDesc(TenantsName,
	"GatewayTenants by the status (True, False, Unknown) and reason of their Ready condition; Unknown with reason Pending: not reconciled yet.",
	[]string{"ready", "reason"}, nil)

// Tenants counts GatewayTenants by the status and reason of their Ready condition. The
// tenant informer's events keep the counts (Watch), so that a scrape costs the same at ten
// tenants as at ten thousand: it reads a handful of numbers, not every tenant.
type Tenants struct {
	mu     sync.Mutex
	keys   map[types.UID]ReadyKey
	counts map[ReadyKey]int
	synced func() bool
}

// NewTenants returns the collector; Watch feeds it.
func NewTenants() *Tenants {
	return &Tenants{keys: map[types.UID]ReadyKey{}, counts: map[ReadyKey]int{}}
}

// EventSource is the part of an informer Watch needs (a controller-runtime cache.Informer).
type EventSource interface {
	AddEventHandler(toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error)
}

// Watch counts the tenants of inf: those it holds arrive as additions. Until it has
// delivered them all, a scrape reports an invalid metric rather than a partial count.
func (t *Tenants) Watch(inf EventSource) error {
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.set(obj) },
		UpdateFunc: func(_, obj any) { t.set(obj) },
		DeleteFunc: t.forget,
	})
	if err != nil {
		return fmt.Errorf("counting tenants: %w", err)
	}
	t.mu.Lock()
	t.synced = reg.HasSynced
	t.mu.Unlock()
	return nil
}

func (t *Tenants) set(obj any) {
	tenant, ok := obj.(*v1alpha1.GatewayTenant)
	if !ok {
		return
	}
	key := readyKey(tenant)
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.keys[tenant.UID]; ok {
		if old == key {
			return
		}
		t.uncount(old)
	}
	t.keys[tenant.UID] = key
	t.counts[key]++
}

func (t *Tenants) forget(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	tenant, ok := obj.(*v1alpha1.GatewayTenant)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.keys[tenant.UID]; ok {
		delete(t.keys, tenant.UID)
		t.uncount(old)
	}
}

func (t *Tenants) uncount(key ReadyKey) {
	if t.counts[key]--; t.counts[key] == 0 {
		delete(t.counts, key)
	}
}

// HasSynced says whether the informer has delivered every tenant it held when Watch began.
func (t *Tenants) HasSynced() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.synced != nil && t.synced()
}

// errNotSynced is reported until the informer has delivered every tenant it holds.
var errNotSynced = errors.New("the tenant cache has not synced yet")

// Describe implements prometheus.Collector.
func (t *Tenants) Describe(ch chan<- *prometheus.Desc) { ch <- tenantsDesc }

// Collect implements prometheus.Collector.
func (t *Tenants) Collect(ch chan<- prometheus.Metric) {
	if !t.HasSynced() {
		ch <- prometheus.NewInvalidMetric(tenantsDesc, errNotSynced)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, n := range t.counts {
		ch <- prometheus.MustNewConstMetric(tenantsDesc, prometheus.GaugeValue, float64(n), k.Status, k.Reason)
	}
}

// ReadyKey is a tenant's Ready status and reason.
type ReadyKey struct{ Status, Reason string }

// pending is the reason of a tenant without a Ready condition (or one of an older generation).
const pending = "Pending"

// readyKey is the status and reason of a tenant's Ready condition. A tenant whose Ready
// condition is missing or older than its spec counts as Unknown/Pending.
func readyKey(tenant *v1alpha1.GatewayTenant) ReadyKey {
	c := meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady)
	if c == nil || c.ObservedGeneration != tenant.Generation {
		return ReadyKey{string(metav1.ConditionUnknown), pending}
	}
	return ReadyKey{string(c.Status), c.Reason}
}

// CertificateRef is one certificate a tenant's upstream references, and when it expires.
type CertificateRef struct {
	Upstream string
	Kind     string // KindCA or KindClient
	// Ref is <ConfigMap|Secret|ClusterTrustBundle>/<name>, for a selection of bundles
	// ClusterTrustBundle/signerName=<signer>[,<labels>], for pod certificates
	// PodCertificate/<signer>.
	Ref      string
	NotAfter time.Time
}

// Certificates is the expiry gauge of referenced certificates. The controller sets a tenant's
// whole set after each reconcile, and forgets the tenant when it is deleted.
type Certificates struct {
	gauge *prometheus.GaugeVec
	mu    sync.Mutex
	have  map[types.NamespacedName][]prometheus.Labels
}

// NewCertificates returns the gauge; register it with Collector().
func NewCertificates() *Certificates {
	return &Certificates{
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: CertificateNotAfter,
			Help: "Earliest notAfter (Unix seconds) of a CA bundle or client certificate a GatewayTenant's upstream references (of a Secret or pod certificate: as the proxy replicas loaded it).",
		}, []string{"namespace", "tenant", "upstream", "kind", "ref"}),
		have: map[types.NamespacedName][]prometheus.Labels{},
	}
}

// Collector is what to register.
func (c *Certificates) Collector() prometheus.Collector { return c.gauge }

// Set replaces the tenant's series with refs; a reference no longer listed loses its series.
func (c *Certificates) Set(tenant types.NamespacedName, refs []CertificateRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var now []prometheus.Labels
	for _, r := range refs {
		l := prometheus.Labels{"namespace": tenant.Namespace, "tenant": tenant.Name, "upstream": r.Upstream, "kind": r.Kind, "ref": r.Ref}
		c.gauge.With(l).Set(float64(r.NotAfter.Unix()))
		now = append(now, l)
	}
	for _, old := range c.have[tenant] {
		if !slices.ContainsFunc(now, func(l prometheus.Labels) bool { return equalLabels(l, old) }) {
			c.gauge.Delete(old)
		}
	}
	if len(now) == 0 {
		delete(c.have, tenant)
		return
	}
	c.have[tenant] = now
}

// Forget removes every series of a tenant (it was deleted).
func (c *Certificates) Forget(tenant types.NamespacedName) { c.Set(tenant, nil) }

func equalLabels(a, b prometheus.Labels) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
