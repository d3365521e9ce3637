package main

import (
	"fmt"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
)

// startControlPlane starts the real kube-apiserver and etcd as the tests do (the harness),
// sized for a platform: Service addresses for 20,000 tenants and noise namespaces (envtest's
// default range holds 254), and an etcd quota for gigabytes of noise.
func startControlPlane() (*envtest.Environment, *rest.Config, error) {
	env, err := controlplane.New()
	if err != nil {
		return nil, nil, err
	}
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/12")
	env.ControlPlane.Etcd = &envtest.Etcd{}
	env.ControlPlane.Etcd.Configure().Set("quota-backend-bytes", fmt.Sprint(int64(8)<<30))
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting control plane (run make control-plane first): %w", err)
	}
	return env, cfg, nil
}
