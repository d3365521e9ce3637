package proxystate

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
)

// The rate of requests to proxies follows the number of proxy replicas the poller reads (not
// terminating, ready or not: a replica whose TLS material does not load says why): Headroom
// readings of each per Interval, at least MinQPS. With a fixed cap, 10,000 TLS tenants of 2
// replicas would be read every several minutes; with this one every replica is read every
// Interval, and a restart, which wants every replica at once, is spread over
// Interval/Headroom.

// replicaCount counts the endpoints of the proxies' EndpointSlices the poller reads, from the
// cache's events.
type replicaCount struct {
	mu     sync.Mutex
	slices map[types.NamespacedName]int
	total  atomic.Int64
}

var _ toolscache.ResourceEventHandler = &replicaCount{}

func (c *replicaCount) set(obj any, n int) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	if !IsProxySlice(s) {
		n = 0
	}
	key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total.Add(int64(n - c.slices[key]))
	if n == 0 {
		delete(c.slices, key)
	} else {
		c.slices[key] = n
	}
}

func readOf(obj any) int {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return 0
	}
	return len(replicasToRead([]discoveryv1.EndpointSlice{*s}, len(s.Endpoints)))
}

func (c *replicaCount) OnAdd(obj any, _ bool) { c.set(obj, readOf(obj)) }
func (c *replicaCount) OnUpdate(_, obj any)   { c.set(obj, readOf(obj)) }
func (c *replicaCount) OnDelete(obj any)      { c.set(obj, 0) }
func (c *replicaCount) Total() int            { return int(c.total.Load()) }

// followingLimiter is a token bucket whose rate follows the replicas.
type followingLimiter struct {
	limiter  *rate.Limiter
	replicas *replicaCount
	interval time.Duration
}

// qps is the rate for n replicas.
func qps(n int, interval time.Duration) float64 {
	return max(MinQPS, Headroom*float64(n)/interval.Seconds())
}

func (l *followingLimiter) Wait(ctx context.Context) error {
	if r := rate.Limit(qps(l.replicas.Total(), l.interval)); r != l.limiter.Limit() {
		l.limiter.SetLimit(r)
		l.limiter.SetBurst(max(MinQPS, int(r)/10))
	}
	return l.limiter.Wait(ctx)
}

func (l *followingLimiter) TryAccept() bool { return l.limiter.Allow() }
func (l *followingLimiter) Accept()         { _ = l.limiter.Wait(context.Background()) }
func (l *followingLimiter) Stop()           {}
func (l *followingLimiter) QPS() float32    { return float32(l.limiter.Limit()) }
