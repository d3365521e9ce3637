package gatewaytenant

// Proxy image upgrades rolled out at a bounded rate across tenants: an operator upgrade
// changes every tenant's proxy at once, and a thousand rollouts in a burst are a stampede.

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
)

// DefaultRolloutBurst is how many proxies may change image at once by default: one. A token
// bucket lets burst changes go at once and then one every 60/perMinute seconds, so in the
// first minute burst-1 more than perMinute change; only a burst of 1 keeps the promise of at
// most perMinute image changes in any minute (docs/install.md, "Upgrades").
const DefaultRolloutBurst = 1

// Rollout bounds how fast a new proxy image reaches existing proxies. One token per proxy
// whose image changes; proxies created new, and changes of a proxy's own configuration, do
// not wait.
type Rollout struct {
	limiter *rate.Limiter
}

// NewRollout allows perMinute image changes a minute, in bursts of up to burst (at least 1);
// perMinute 0 means no bound.
func NewRollout(perMinute float64, burst int) *Rollout {
	if perMinute <= 0 {
		return &Rollout{limiter: rate.NewLimiter(rate.Inf, 0)}
	}
	return &Rollout{limiter: rate.NewLimiter(rate.Limit(perMinute/60), max(burst, 1))}
}

// Allow takes the token of one image change at time now when one is free; otherwise it says
// how long until one is.
func (r *Rollout) Allow(now time.Time) (bool, time.Duration) {
	res := r.limiter.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// outdated is a proxy that still runs an older image, and when it may next try.
type outdated struct {
	image, want string
	retry       time.Duration
}

// hold decides the image of a proxy that runs have (empty: a new proxy) and should run want,
// at time now: want when the rollout bound lets the change go ahead (or there is no change),
// have otherwise, with when to try again.
func (r *Rollout) hold(have, want string, now time.Time) *outdated {
	if r == nil || have == "" || have == want {
		return nil
	}
	if ok, retry := r.Allow(now); !ok {
		return &outdated{image: have, want: want, retry: retry}
	}
	return nil
}

// proxyImage is the image of the proxy container of d; empty when d is nil.
func proxyImage(d *appsv1.Deployment) string {
	if d == nil {
		return ""
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == componentProxy {
			return c.Image
		}
	}
	return ""
}

// message is the ProxyReady message of a proxy that waits for its upgrade.
func (o *outdated) message() string {
	return fmt.Sprintf("the proxy still runs %s; its upgrade to %s waits its turn (at most --proxy-rollouts-per-minute proxies change image a minute)", o.image, o.want)
}
