// Package proxystate reads what each tenant's proxy replicas know about the data path (the
// proxy's state report, served on its admin port) and keeps the latest reading per tenant
// in memory, for the GatewayTenant reconciler to write into status. A reading that changes
// something the status shows wakes that tenant's reconcile; one that does not costs no
// API request.
package proxystate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// PodReport is one proxy replica's answer.
type PodReport struct {
	// Pod is the replica's pod name (its address when the EndpointSlice names none).
	Pod string
	// Address is the pod IP that was asked.
	Address string
	// Report is nil when the replica could not be read; Err then says why, in a few
	// stable words.
	Report *contract.StateReport
	Err    string
	// NotReady says the replica was not ready when read: starting, or without the TLS
	// material of any upstream.
	NotReady bool
	// ETag is the report's entity tag, named in the next request for it.
	ETag string
}

// Reading is the latest poll of one tenant's proxy replicas, sorted by pod.
type Reading struct {
	Pods []PodReport
	// At is when the poll finished.
	At time.Time
}

// pod is the report of the replica t in the reading, nil when it has none.
func (r Reading) pod(t target) *PodReport {
	for i := range r.Pods {
		if r.Pods[i].Pod == t.pod && r.Pods[i].Address == t.address {
			return &r.Pods[i]
		}
	}
	return nil
}

// Store holds the latest Reading per tenant. It is safe for concurrent use.
type Store struct {
	mu       sync.RWMutex
	readings map[types.NamespacedName]stored
	events   chan event.GenericEvent
}

type stored struct {
	reading Reading
	digest  string
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{readings: map[types.NamespacedName]stored{}, events: make(chan event.GenericEvent, 1024)}
}

// Get returns the latest reading of a tenant's proxy replicas.
func (s *Store) Get(tenant types.NamespacedName) (Reading, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.readings[tenant]
	return st.reading, ok
}

// Source is the event source of the GatewayTenant controller: one event for a tenant each
// time what its status would show of its proxies changes.
func (s *Store) Source() source.Source {
	return source.Channel(s.events, &handler.EnqueueRequestForObject{})
}

// put stores a reading and, when it changes what the status shows, wakes the tenant.
func (s *Store) put(ctx context.Context, tenant types.NamespacedName, r Reading) {
	sort.Slice(r.Pods, func(i, j int) bool { return r.Pods[i].Pod < r.Pods[j].Pod })
	d := digest(r)
	s.mu.Lock()
	old, had := s.readings[tenant]
	s.readings[tenant] = stored{reading: r, digest: d}
	s.mu.Unlock()
	if !had || old.digest != d {
		s.notify(ctx, tenant)
	}
}

// forget drops a tenant whose proxy is gone.
func (s *Store) forget(ctx context.Context, tenant types.NamespacedName) {
	s.mu.Lock()
	_, had := s.readings[tenant]
	delete(s.readings, tenant)
	s.mu.Unlock()
	if had {
		s.notify(ctx, tenant)
	}
}

func (s *Store) notify(ctx context.Context, tenant types.NamespacedName) {
	obj := &v1alpha1.GatewayTenant{}
	obj.Namespace, obj.Name = tenant.Namespace, tenant.Name
	select {
	case s.events <- event.GenericEvent{Object: client.Object(obj)}:
	case <-ctx.Done():
	}
}

// digest covers what the status can show of a reading: per replica its revision and, per
// upstream, the result, the message, whether a failure is confirmed, the certificate's
// expiry and its material's problems and certificates; not the times of checks, which change
// at every check.
func digest(r Reading) string {
	type material struct {
		Field, Problem, Message, Subject string
		Missing                          []string
		NotAfter                         time.Time
	}
	type up struct {
		Name, Result, Message string
		Confirmed             bool
		NotAfter              time.Time
		Material              []material
	}
	type pod struct {
		Pod, Err, Revision string
		Upstreams          []up
	}
	var pods []pod
	for _, p := range r.Pods {
		dp := pod{Pod: p.Pod, Err: p.Err}
		if p.Report != nil {
			dp.Revision = p.Report.Revision
			for _, u := range p.Report.Upstreams {
				x := up{Name: u.Name, Result: string(u.Result), Message: u.Message, Confirmed: u.ConsecutiveFailures >= contract.ConfirmedFailures}
				if u.Presented != nil {
					x.NotAfter = u.Presented.NotAfter
				}
				for _, m := range u.Material {
					dm := material{Field: m.Field, Problem: string(m.Problem), Message: m.Message, Missing: m.Missing}
					if m.Loaded != nil {
						dm.Subject, dm.NotAfter = m.Loaded.Subject, m.Loaded.NotAfter
					}
					x.Material = append(x.Material, dm)
				}
				dp.Upstreams = append(dp.Upstreams, x)
			}
		}
		pods = append(pods, dp)
	}
	data, _ := json.Marshal(pods) // plain data: cannot fail
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// StripEndpointSlice is a cache transform for EndpointSlices: it keeps what the operator
// reads (labels, address type, each endpoint's first address, readiness and pod) and drops
// the rest, so that caching every EndpointSlice of the cluster costs little memory.
func StripEndpointSlice(obj any) (any, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return obj, nil
	}
	s.ManagedFields, s.Annotations = nil, nil
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		if len(ep.Addresses) > 1 {
			ep.Addresses = ep.Addresses[:1]
		}
		ep.Hostname, ep.NodeName, ep.Zone, ep.Hints, ep.DeprecatedTopology = nil, nil, nil, nil, nil
		if ep.TargetRef != nil {
			ep.TargetRef = &corev1.ObjectReference{Kind: ep.TargetRef.Kind, Name: ep.TargetRef.Name}
		}
	}
	return s, nil
}
