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

	"golang.org/x/time/rate"
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
	// MinQPS is the least rate the requests to all proxies together may reach; above it the
	// rate follows the number of replicas (Headroom readings of each per Interval), so that
	// every replica is read every Interval however many there are.
	MinQPS = 50
	// Headroom is how much faster than one reading per replica per Interval the poller may
	// go: a restart reads every replica within Interval/Headroom.
	Headroom = 2
	// DefaultWorkers is how many tenants' replicas are read at once: enough to keep up with
	// tens of thousands of replicas at a few milliseconds a request.
	DefaultWorkers = 16
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
// rollout) and every Interval. Requests to all proxies together are bounded by Limiter, or by
// a rate that follows the number of replicas. Each request names the report it read last
// (If-None-Match): a proxy whose report did not change answers 304 without a body.
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
	// Limiter, when set, bounds the rate of requests to proxies; by default the rate follows
	// the number of replicas it reads (MinQPS, Headroom).
	Limiter flowcontrol.RateLimiter
	// Workers is how many tenants are read at once (DefaultWorkers when zero).
	Workers int
	// HTTPClient makes the requests (default: no keep-alive, so that thousands of proxies
	// hold no connections in the operator between polls).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time

	replicas *replicaCount // replicas of every proxy it reads, when the rate follows them
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
		p.replicas = &replicaCount{slices: map[types.NamespacedName]int{}}
		p.Limiter = &followingLimiter{limiter: rate.NewLimiter(MinQPS, MinQPS), replicas: p.replicas, interval: p.Interval}
	}
	if p.Workers == 0 {
		p.Workers = DefaultWorkers
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
	last, _ := p.Store.Get(req.NamespacedName)
	for _, t := range replicasToRead(slices.Items, p.MaxPods) {
		if err := p.Limiter.Wait(ctx); err != nil {
			return ctrl.Result{}, err
		}
		pr := p.fetch(ctx, t, last.pod(t))
		pr.NotReady = !t.ready
		reading.Pods = append(reading.Pods, pr)
		pending = pending || (pr.Report != nil && anyUnknown(pr.Report))
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

// fetch reads one replica's state report, naming the one it read last (prev, nil when
// none): a 304 answer keeps that one. On failure the PodReport says why in a few stable words.
func (p *Poller) fetch(ctx context.Context, t target, prev *PodReport) PodReport {
	out := PodReport{Pod: t.pod, Address: t.address}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(t.address, strconv.Itoa(p.AdminPort)) + contract.StatePath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	if prev != nil && prev.Report != nil && prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	resp, err := p.HTTPClient.Do(req)
	if err != nil {
		out.Err = fetchError(err)
		return out
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusNotModified && req.Header.Get("If-None-Match") != "":
		out.Report, out.ETag = prev.Report, prev.ETag
		return out
	case resp.StatusCode != http.StatusOK:
		out.Err = fmt.Sprintf("its admin port answered HTTP %d to %s", resp.StatusCode, contract.StatePath)
		return out
	}
	rep := &contract.StateReport{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReportBytes)).Decode(rep); err != nil {
		out.Err = "its state report does not parse"
		return out
	}
	if rep.APIVersion != contract.APIVersion || rep.Kind != contract.StateKind {
		out.Err = fmt.Sprintf("its state report is %s %s, not %s %s", rep.APIVersion, rep.Kind, contract.APIVersion, contract.StateKind)
		return out
	}
	out.Report, out.ETag = rep, resp.Header.Get("ETag")
	return out
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
func (p *Poller) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	p.defaults()
	if p.replicas != nil {
		inf, err := mgr.GetCache().GetInformer(ctx, &discoveryv1.EndpointSlice{})
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(p.replicas); err != nil {
			return err
		}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		WithOptions(controller.Options{MaxConcurrentReconciles: p.Workers}).
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
