package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// ProxyImage is the proxy image the demo's manager renders into proxy Deployments.
const ProxyImage = "quay.io/gatewaytenant/gatewaytenant-operator:demo"

// OperatorNamespace is the namespace the demo's manager is told it runs in: the proxies'
// NetworkPolicies admit it to their admin port.
const OperatorNamespace = "gatewaytenant-system"

// Cluster is a local control plane (the real kube-apiserver and etcd, data in temporary
// directories) with the real manager running in this process.
type Cluster struct {
	Env *controlplane.Environment
	// Client reads and writes the API server directly, without a cache; Watch can also watch.
	Client client.Client
	Watch  client.WithWatch
	// Kubeconfig is the path of a kubeconfig file for the user "demo" (system:masters).
	Kubeconfig string

	// ProxyAdmin is the admin address of the proxy the story runs. The manager reads the
	// proxy's state there, whatever pod address the proxy Service's EndpointSlice names: the
	// API server refuses loopback addresses in EndpointSlices.
	ProxyAdmin atomic.Pointer[string]

	stopManager context.CancelFunc
	managerDone chan error
}

// dialProxy connects the manager to the running proxy's admin port.
func (c *Cluster) dialProxy(ctx context.Context, network, _ string) (net.Conn, error) {
	addr := c.ProxyAdmin.Load()
	if addr == nil {
		return nil, errors.New("no proxy pod runs")
	}
	return (&net.Dialer{}).DialContext(ctx, network, *addr)
}

// StartCluster starts the control plane, writes a kubeconfig into dir and starts the manager
// with the silver data-plane preset. The manager runs until Stop; ctx only bounds the start.
func StartCluster(ctx context.Context, dir string) (_ *Cluster, err error) {
	gatewayAPI, err := controlplane.GatewayAPICRDs(controlplane.GatewayAPIStandard...)
	if err != nil {
		return nil, err
	}
	env, err := controlplane.Start(gatewayAPI...)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Env: env}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()

	user, err := env.AddUser(envtest.User{Name: "demo", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return c, fmt.Errorf("adding the demo user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return c, fmt.Errorf("writing the demo user's kubeconfig: %w", err)
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return c, err
	}
	if c.Watch, err = client.NewWithWatch(env.Config, client.Options{Scheme: manager.Scheme()}); err != nil {
		return c, err
	}
	c.Client = c.Watch

	mgrCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	mgr, err := manager.New(mgrCtx, env.Config, manager.Options{
		MetricsAddr:     "0",
		ProbeAddr:       "0",
		DataPlanePreset: "silver",
		// No kubelet pulls it: the proxy binary of this checkout plays the pod.
		Proxy:                    gatewaytenant.ProxySettings{Image: ProxyImage, Replicas: 1},
		CertificateExpiryWarning: 30 * 24 * time.Hour,
		OperatorNamespace:        OperatorNamespace,
		// The proxy's state is read every 2s instead of 30s, so that the story moves on.
		ProxyStatePoll: manager.ProxyStatePoll{Interval: 2 * time.Second},
		Harness:        &manager.Harness{DialProxy: c.dialProxy},
	})
	if err != nil {
		cancel()
		return c, err
	}
	c.stopManager, c.managerDone = cancel, make(chan error, 1)
	go func() { c.managerDone <- mgr.Start(mgrCtx) }()
	return c, nil
}

// Stop stops the manager, then the control plane, which removes its data.
func (c *Cluster) Stop() error {
	var errs []error
	if c.stopManager != nil {
		c.stopManager()
		if err := <-c.managerDone; err != nil {
			errs = append(errs, fmt.Errorf("manager: %w", err))
		}
		c.stopManager = nil
	}
	if c.Env != nil {
		errs = append(errs, c.Env.Stop())
		c.Env = nil
	}
	return errors.Join(errs...)
}
