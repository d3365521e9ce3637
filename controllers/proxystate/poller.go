package proxystate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strconv"
	"syscall"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/flowcontrol"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// ControllerName names the poller in logs and metrics.
const ControllerName = "proxystate"

// The proxy Service carries these labels, and the EndpointSlice controller copies a
// Service's labels onto its EndpointSlices: that is how proxy slices are told apart.
const (
	LabelComponent = contract.LabelComponent
	ComponentProxy = contract.Component
)

// Defaults of the Poller.
const (
	DefaultAdminPort = contract.AdminPort
	DefaultInterval  = 30 * time.Second
	// DefaultQPS bounds the requests to all proxies together; with 2 replicas per tenant,
	// 1,000 TLS tenants are each read about every 40s.
	DefaultQPS = 50
	// DefaultMaxPods is the most replicas of one tenant read per poll.
	DefaultMaxPods = 5
	// pendingInterval is the next poll while a replica has not checked yet (it just started).
	pendingInterval = 2 * time.Second
	fetchTimeout    = 5 * time.Second
	maxReportBytes  = 1 << 20
)

// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch

// Poller reads the state report of each tenant's proxy replicas, found through the proxy
// Service's EndpointSlices, over the pod network: on every change of those EndpointSlices (a
// rollout) and every Interval. Requests to all proxies together are bounded by Limiter.
type Poller struct {
	// Client reads EndpointSlices (from the manager's cache).
	Client client.Client
	Store  *Store
	// AdminPort is the proxies' admin port; tests point it elsewhere.
	AdminPort int
	// Interval between polls of one tenant, with ±10% jitter.
	Interval time.Duration
	// MaxPods is the most replicas of one tenant read per poll.
	MaxPods int
	// Limiter bounds the rate of requests to proxies (default DefaultQPS).
	Limiter flowcontrol.RateLimiter
	// HTTPClient makes the requests (default: no keep-alive, so that thousands of proxies
	// hold no connections in the operator between polls).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (p *Poller) defaults() {
	if p.AdminPort == 0 {
		p.AdminPort = DefaultAdminPort
	}
	if p.Interval == 0 {
		p.Interval = DefaultInterval
	}
	if p.MaxPods == 0 {
		p.MaxPods = DefaultMaxPods
	}
	if p.Limiter == nil {
		p.Limiter = flowcontrol.NewTokenBucketRateLimiter(DefaultQPS, DefaultQPS)
	}
	if p.HTTPClient == nil {
		p.HTTPClient = &http.Client{Timeout: fetchTimeout, Transport: &http.Transport{
			DisableKeepAlives: true, Proxy: nil, DialContext: (&net.Dialer{Timeout: fetchTimeout}).DialContext,
		}}
	}
	if p.Now == nil {
		p.Now = time.Now
	}
}

// Reconcile polls one tenant's proxy replicas; the request names the tenant.
func (p *Poller) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	slices := &discoveryv1.EndpointSliceList{}
	if err := p.Client.List(ctx, slices, client.InNamespace(req.Namespace), client.MatchingLabels{
		v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue, LabelComponent: ComponentProxy, v1alpha1.LabelTenant: req.Name,
	}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the proxy's EndpointSlices: %w", err)
	}
	if len(slices.Items) == 0 {
		p.Store.forget(ctx, req.NamespacedName)
		return ctrl.Result{}, nil
	}
	reading := Reading{}
	pending := false
	for _, t := range replicasToRead(slices.Items, p.MaxPods) {
		if err := p.Limiter.Wait(ctx); err != nil {
			return ctrl.Result{}, err
		}
		rep, why := p.fetch(ctx, t.address)
		reading.Pods = append(reading.Pods, PodReport{Pod: t.pod, Address: t.address, Report: rep, Err: why, NotReady: !t.ready})
		pending = pending || (rep != nil && anyUnknown(rep))
	}
	reading.At = p.Now()
	p.Store.put(ctx, req.NamespacedName, reading)
	if len(reading.Pods) == 0 {
		return ctrl.Result{}, nil // no replica to read: the EndpointSlice's next change wakes us
	}
	next := p.Interval - p.Interval/10 + rand.N(p.Interval/5+1)
	if pending {
		next = min(next, pendingInterval)
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

func anyUnknown(r *contract.StateReport) bool {
	for _, u := range r.Upstreams {
		if u.Result == contract.ResultUnknown {
			return true
		}
	}
	return false
}

type target struct {
	pod, address string
	ready        bool
}

// replicasToRead are the replicas behind the slices that are not terminating, ready or not
// (a replica whose TLS material does not load may not be ready, and its report says why),
// one address each (dual-stack slices list a pod twice), sorted by pod, at most limit.
func replicasToRead(slices []discoveryv1.EndpointSlice, limit int) []target {
	seen := map[string]bool{}
	var out []target
	for _, s := range slices {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		for _, ep := range s.Endpoints {
			if (ep.Conditions.Terminating != nil && *ep.Conditions.Terminating) || len(ep.Addresses) == 0 {
				continue
			}
			pod := ep.Addresses[0]
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				pod = ep.TargetRef.Name
			}
			if seen[pod] {
				continue
			}
			seen[pod] = true
			out = append(out, target{pod: pod, address: ep.Addresses[0], ready: ep.Conditions.Ready == nil || *ep.Conditions.Ready})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pod < out[j].pod })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// fetch reads one replica's state report; on failure it says why in a few stable words.
func (p *Poller) fetch(ctx context.Context, address string) (*contract.StateReport, string) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(address, strconv.Itoa(p.AdminPort)) + contract.StatePath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err.Error()
	}
	resp, err := p.HTTPClient.Do(req)
	if err != nil {
		return nil, fetchError(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Sprintf("its admin port answered HTTP %d to %s", resp.StatusCode, contract.StatePath)
	}
	rep := &contract.StateReport{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReportBytes)).Decode(rep); err != nil {
		return nil, "its state report does not parse"
	}
	if rep.APIVersion != contract.APIVersion || rep.Kind != contract.StateKind {
		return nil, fmt.Sprintf("its state report is %s %s, not %s %s", rep.APIVersion, rep.Kind, contract.APIVersion, contract.StateKind)
	}
	return rep, ""
}

func fetchError(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection to its admin port refused"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return fmt.Sprintf("no answer from its admin port within %s (is a NetworkPolicy dropping the operator's traffic?)", fetchTimeout)
	}
	return "cannot reach its admin port"
}

// SetupWithManager registers the poller: it watches the proxy Services' EndpointSlices.
func (p *Poller) SetupWithManager(mgr ctrl.Manager) error {
	p.defaults()
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(tenantOfSlice),
			builder.WithPredicates(predicate.NewPredicateFuncs(IsProxySlice))).
		Complete(p)
}

// IsProxySlice says whether an EndpointSlice belongs to a tenant's proxy Service (whose
// labels it inherits).
func IsProxySlice(o client.Object) bool {
	l := o.GetLabels()
	return l[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue && l[LabelComponent] == ComponentProxy && l[v1alpha1.LabelTenant] != ""
}

func tenantOfSlice(_ context.Context, o client.Object) []reconcile.Request {
	if !IsProxySlice(o) {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetLabels()[v1alpha1.LabelTenant]}}}
}
