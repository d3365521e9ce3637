// Package testenv starts the real kube-apiserver and etcd (built by hack/control-plane.sh)
// with the operator's CRDs installed, for test suites and the demo.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Environment wraps an envtest control plane with the operator's CRDs.
type Environment struct {
	*envtest.Environment
	Config *rest.Config
}

// Start starts a control plane. The binaries come from $KUBEBUILDER_ASSETS, or else from
// bin/control-plane of the checkout; extra CRD files or directories are installed too.
func Start(extraCRDs ...string) (*Environment, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(RepoRoot(), "bin", "control-plane")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run `make control-plane` (or `make test`) first: %w", assets, err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{filepath.Join(RepoRoot(), "config", "crd", "bases")}, extraCRDs...),
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}
	// Generous client limits: suites create many objects quickly on a loaded machine.
	cfg.QPS, cfg.Burst = 200, 400
	return &Environment{Environment: env, Config: cfg}, nil
}

// Stop stops the control plane.
func (e *Environment) Stop() error {
	if e == nil || e.Environment == nil {
		return errors.New("control plane not started")
	}
	return e.Environment.Stop()
}
