// Package leaderelection checks that the manager hands its lease back when it stops, so that
// a restarted or rolled-out replica leads at once instead of waiting out the lease.
package leaderelection

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

func TestLeaseReleasedOnShutdown(t *testing.T) {
	env, err := controlplane.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	c, err := client.New(env.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := manager.New(ctx, env.Config, manager.Options{
		MetricsAddr: "0", ProbeAddr: "0", LeaderElection: true, LeaderElectionNamespace: "default",
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()

	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: "default", Name: "gatewaytenant-operator.gatewaytenant.io"}
	holder := func() string {
		if err := c.Get(context.Background(), key, lease); err != nil || lease.Spec.HolderIdentity == nil {
			return ""
		}
		return *lease.Spec.HolderIdentity
	}
	poll := func(cond func() bool) error {
		return wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true,
			func(context.Context) (bool, error) { return cond(), nil })
	}
	if err := poll(func() bool { return holder() != "" }); err != nil {
		t.Fatalf("the manager never took the lease: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("manager stopped with %v", err)
	}
	// Released: controller-runtime clears the holder when it gives the lease up.
	if err := c.Get(context.Background(), key, lease); err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("after shutdown the lease is still held by %q: a new replica would wait %ds for it", *h, *lease.Spec.LeaseDurationSeconds)
	}
}
