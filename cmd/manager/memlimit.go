package main

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// memoryLimitRatio is the share of the container's memory limit the Go runtime aims to stay
// under, leaving the rest for what it does not count (thread stacks outside the heap, the
// binary's mapped pages).
const memoryLimitRatio = 0.9

// setMemoryLimit gives the Go runtime a soft memory limit of memoryLimitRatio of the limit
// provider reports (the container's cgroup limit in the product), unless GOMEMLIMIT is set.
// Without it the collector lets the heap grow to twice what is live whatever the container
// allows: the decoded initial lists of a start at 10,000 tenants left the manager's RSS above
// its former default limit of 256Mi (docs/benchmarks.md), a kill by the kernel on a real node.
// It returns the limit in force (math.MaxInt64: none).
func setMemoryLimit(provider memlimit.Provider, log logr.Logger) int64 {
	limit, err := memlimit.Set(memlimit.WithProvider(provider), memlimit.WithRatio(memoryLimitRatio))
	switch {
	case err != nil:
		log.Info("No Go memory limit set: the container's memory limit cannot be read", "reason", err.Error())
	case limit < math.MaxInt64:
		log.Info("Go memory limit set", "GOMEMLIMIT", limit)
	}
	return limit
}

// gcPercent is the collector's target for the manager once its caches have synced, unless
// GOGC is set: the next collection when the heap has grown by half of what is live, not by
// all of it (Go's default of 100). Nearly all of the manager's heap is its long-lived cache,
// so the default would keep one more cache's worth of memory for garbage. At 10,000 tenants
// the settled RSS went from 243 to 198 MiB and the restart high-water from 295 to 208 MiB.
// While the caches sync, Go's default stays: the initial lists decode every watched object
// of the cluster (most of them dropped), and at 50 the collector's assists slowed that
// decoding (docs/benchmarks.md, "Operator at scale, part three").
const gcPercent = 50

// gcTargetAfterSync sets gcPercent once the cache has synced, on every replica (leader or
// not: each has its caches).
func gcTargetAfterSync(c cache.Cache, log logr.Logger) manager.Runnable {
	return gcTarget{cache: c, log: log}
}

type gcTarget struct {
	cache cache.Cache
	log   logr.Logger
}

func (g gcTarget) Start(ctx context.Context) error {
	if g.cache.WaitForCacheSync(ctx) {
		setGCPercent(g.log)
	}
	return nil
}

func (gcTarget) NeedLeaderElection() bool { return false }

// setGCPercent applies gcPercent unless GOGC is set, and returns the percentage in force.
func setGCPercent(log logr.Logger) int {
	if v, ok := os.LookupEnv("GOGC"); ok && v != "" {
		sample := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(sample)
		return int(sample[0].Value.Uint64())
	}
	debug.SetGCPercent(gcPercent)
	log.V(1).Info("Go collector target set", "GOGC", gcPercent)
	return gcPercent
}
