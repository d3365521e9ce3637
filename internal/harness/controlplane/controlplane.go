// Package controlplane starts the real kube-apiserver and etcd (built by hack/control-plane.sh)
// with the operator's CRDs installed, and plays the part of the controller-manager that the
// operator waits for: envtest runs no controllers.
package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gatewaytenant/gatewaytenant-operator/config/crd"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness"
)

// Environment is a running control plane with the operator's CRDs.
type Environment struct {
	*envtest.Environment
	Config *rest.Config
}

// Start starts a control plane (see New).
func Start(extraCRDs ...string) (*Environment, error) {
	env, err := New(extraCRDs...)
	if err != nil {
		return nil, err
	}
	return start(env)
}

// StartForTest starts a control plane for a test and stops it when the test ends. configure,
// when not nil, adjusts it first (API server flags, for one); extraCRDs are installed too.
func StartForTest(t testing.TB, configure func(*envtest.Environment), extraCRDs ...string) *Environment {
	t.Helper()
	env, err := New(extraCRDs...)
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(env)
	}
	started, err := start(env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := started.Stop(); err != nil {
			t.Error(err)
		}
	})
	return started
}

func start(env *envtest.Environment) (*Environment, error) {
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}
	// Generous client limits: suites create many objects quickly on a loaded machine.
	cfg.QPS, cfg.Burst = 200, 400
	return &Environment{Environment: env, Config: cfg}, nil
}

// New is a control plane ready to start, for callers that configure the API server or etcd
// further first (hack/bench-operator sizes them for a platform). The binaries come from
// $KUBEBUILDER_ASSETS, or else from bin/control-plane of the checkout; the operator's CRDs
// are compiled in (config/crd), and extraCRDs (files or directories) are installed too.
func New(extraCRDs ...string) (*envtest.Environment, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		root, err := harness.RepoRoot()
		if err != nil {
			return nil, fmt.Errorf("KUBEBUILDER_ASSETS is not set, and %w", err)
		}
		assets = filepath.Join(root, "bin", "control-plane")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run `make control-plane` (or `make test`) first: %w", assets, err)
	}
	crds, err := crd.CRDs()
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDs:                  crds,
		CRDDirectoryPaths:     extraCRDs,
		ErrorIfCRDPathMissing: true,
		// envtest's default of 20 s is too short on a loaded 2-core machine: an API server
		// still closing the watches of many managers was seen to take longer, and the test
		// that started it then failed on its clean-up alone.
		ControlPlaneStopTimeout: 2 * time.Minute,
	}, nil
}

// Stop stops the control plane, which removes its data.
func (e *Environment) Stop() error {
	if e == nil || e.Environment == nil {
		return errors.New("control plane not started")
	}
	return e.Environment.Stop()
}

// OpenShiftConfigCRDs returns the CRD files of config.openshift.io/v1 resources (plural
// names such as "dnses") from github.com/openshift/api, in their Default feature set. Each
// file is named on its own: openshift/api ships several variants of a CRD, and envtest keeps
// only the last one it reads.
func OpenShiftConfigCRDs(resources ...string) ([]string, error) {
	dir, err := harness.ModuleDir("github.com/openshift/api")
	if err != nil {
		return nil, err
	}
	files := make([]string, 0, len(resources))
	for _, r := range resources {
		pattern := filepath.Join(dir, "config", "v1", "zz_generated.crd-manifests", "*_"+r+"-Default.crd.yaml")
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, err
		}
		if len(matches) != 1 {
			return nil, fmt.Errorf("want one Default CRD of config.openshift.io %s, found %d (%s)", r, len(matches), pattern)
		}
		files = append(files, matches[0])
	}
	return files, nil
}
