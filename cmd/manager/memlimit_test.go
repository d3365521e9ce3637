package main

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

func TestMemoryLimitFollowsTheContainers(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, c := range []struct {
		name, gomemlimit string
		provider         memlimit.Provider
		want             int64
	}{
		{"the default limit of 512Mi", "", memlimit.Limit(512 << 20), 512 << 20 * 9 / 10},
		{"no limit", "", func() (uint64, error) { return 0, memlimit.ErrNoLimit }, math.MaxInt64},
		{"GOMEMLIMIT set by the user wins", "100MiB", memlimit.Limit(256 << 20), 100 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", c.gomemlimit)
			t.Setenv("AUTOMEMLIMIT", "")
			os.Unsetenv("AUTOMEMLIMIT") // restored by t.Setenv
			debug.SetMemoryLimit(math.MaxInt64)
			if c.gomemlimit != "" {
				debug.SetMemoryLimit(100 << 20) // as the runtime reads GOMEMLIMIT at start
			}
			if got := setMemoryLimit(c.provider, logr.Discard()); got != c.want {
				t.Errorf("limit %d, want %d", got, c.want)
			}
			if got := debug.SetMemoryLimit(-1); got != c.want {
				t.Errorf("runtime's limit %d, want %d", got, c.want)
			}
		})
	}
}

func TestCollectorTargetUnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC") // restored by t.Setenv
	debug.SetGCPercent(100)
	if got := setGCPercent(logr.Discard()); got != gcPercent {
		t.Errorf("without GOGC: %d, want %d", got, gcPercent)
	}
	if got := debug.SetGCPercent(-1); got != gcPercent {
		t.Errorf("runtime's target %d, want %d", got, gcPercent)
	}

	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200) // as the runtime reads GOGC at start
	if got := setGCPercent(logr.Discard()); got != 200 {
		t.Errorf("GOGC=200 set by the user: %d, want 200", got)
	}
	if got := debug.SetGCPercent(-1); got != 200 {
		t.Errorf("runtime's target %d, want the user's 200", got)
	}
}

// syncedCache is a cache whose WaitForCacheSync says synced.
type syncedCache struct{ cache.Cache }

func (syncedCache) WaitForCacheSync(context.Context) bool { return true }

func TestCollectorTargetOnceTheCacheHasSynced(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC") // restored by t.Setenv
	debug.SetGCPercent(100)
	r := gcTargetAfterSync(syncedCache{}, logr.Discard())
	if r.(interface{ NeedLeaderElection() bool }).NeedLeaderElection() {
		t.Error("runs only on the leader; every replica has caches")
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("after the sync: %d, want %d", got, gcPercent)
	}
}
