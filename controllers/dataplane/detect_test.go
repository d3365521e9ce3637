package dataplane_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	configv1 "github.com/openshift/api/config/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// logs collects what the manager and envtest log; a failed test prints it.
var logs = &syncBuffer{}

func init() {
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

func startEnv(t *testing.T, crds ...string) *controlplane.Environment {
	t.Helper()
	env, err := controlplane.Start(crds...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
		if l := logs.take(); t.Failed() {
			t.Log("logs:\n" + l)
		}
	})
	return env
}

// clusterConfig is what a case puts into OpenShift's cluster configuration; empty fields
// mean no object.
type clusterConfig struct {
	baseDomain   string // DNS "cluster" spec.baseDomain
	apiServerURL string // Infrastructure "cluster" status.apiServerURL
}

// setClusterConfig replaces the DNS and Infrastructure singletons with those of cc.
func setClusterConfig(ctx context.Context, t *testing.T, c client.Client, cc clusterConfig) {
	t.Helper()
	name := metav1.ObjectMeta{Name: dataplane.ClusterConfigName}
	for _, obj := range []client.Object{&configv1.DNS{ObjectMeta: name}, &configv1.Infrastructure{ObjectMeta: name}} {
		if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	if cc.baseDomain != "" {
		dns := &configv1.DNS{ObjectMeta: name, Spec: configv1.DNSSpec{BaseDomain: cc.baseDomain}}
		if err := c.Create(ctx, dns); err != nil {
			t.Fatal(err)
		}
	}
	if cc.apiServerURL != "" {
		infra := &configv1.Infrastructure{ObjectMeta: name}
		if err := c.Create(ctx, infra); err != nil {
			t.Fatal(err)
		}
		infra.Status.APIServerURL = cc.apiServerURL
		infra.Status.ControlPlaneTopology = configv1.HighlyAvailableTopologyMode
		infra.Status.InfrastructureTopology = configv1.HighlyAvailableTopologyMode
		if err := c.Status().Update(ctx, infra); err != nil {
			t.Fatal(err)
		}
	}
}

func TestChooseOnOpenShift(t *testing.T) {
	crds, err := controlplane.OpenShiftConfigCRDs("dnses", "infrastructures")
	if err != nil {
		t.Fatal(err)
	}
	env := startEnv(t, crds...)
	ctx := context.Background()
	scheme := runtime.NewScheme()
	utilruntime.Must(configv1.Install(scheme))
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	detect := dataplane.Options{Detect: true, Domains: dataplane.DefaultDomainPresets()}
	for _, tc := range []struct {
		desc       string
		cluster    clusterConfig
		opts       dataplane.Options
		wantPreset string
		wantReason string
	}{
		{desc: "silver from DNS", cluster: clusterConfig{baseDomain: "silver.devops.gov.bc.ca"}, opts: detect,
			wantPreset: "silver", wantReason: `DNS "cluster" spec.baseDomain "silver.devops.gov.bc.ca" ends in "silver.devops.gov.bc.ca"`},
		{desc: "gold from DNS", cluster: clusterConfig{baseDomain: "gold.devops.gov.bc.ca"}, opts: detect,
			wantPreset: "gold", wantReason: `ends in "gold.devops.gov.bc.ca"`},
		{desc: "golddr is not gold", cluster: clusterConfig{baseDomain: "golddr.devops.gov.bc.ca"}, opts: detect,
			wantPreset: "golddr", wantReason: `ends in "golddr.devops.gov.bc.ca"`},
		{desc: "emerald from DNS", cluster: clusterConfig{baseDomain: "emerald.devops.gov.bc.ca"}, opts: detect,
			wantPreset: "emerald", wantReason: `ends in "emerald.devops.gov.bc.ca"`},
		{desc: "emerald from Infrastructure when DNS is empty",
			cluster: clusterConfig{apiServerURL: "https://api.emerald.devops.gov.bc.ca:6443"}, opts: detect,
			wantPreset: "emerald", wantReason: `Infrastructure "cluster" status.apiServerURL "api.emerald.devops.gov.bc.ca"`},
		{desc: "gold from Infrastructure when DNS does not match",
			cluster: clusterConfig{baseDomain: "example.com", apiServerURL: "https://api.gold.devops.gov.bc.ca:6443"}, opts: detect,
			wantPreset: "gold", wantReason: `Infrastructure "cluster" status.apiServerURL "api.gold.devops.gov.bc.ca"`},
		{desc: "explicit flag wins", cluster: clusterConfig{baseDomain: "gold.devops.gov.bc.ca"},
			opts:       dataplane.Options{Preset: "silver", Detect: true, Domains: dataplane.DefaultDomainPresets()},
			wantPreset: "silver", wantReason: dataplane.ReasonExplicit},
		{desc: "unknown domain yields none", cluster: clusterConfig{baseDomain: "apps.example.com"}, opts: detect,
			wantReason: `no --preset-domains suffix`},
		{desc: "no DNS or Infrastructure object yields none", opts: detect,
			wantReason: `DNS "cluster" spec.baseDomain: object not found`},
		{desc: "detection off", cluster: clusterConfig{baseDomain: "gold.devops.gov.bc.ca"},
			opts: dataplane.Options{Domains: dataplane.DefaultDomainPresets()}, wantReason: "detection is off"},
		{desc: "own suffix map", cluster: clusterConfig{baseDomain: "ocp.example.org"},
			opts:       dataplane.Options{Detect: true, Domains: dataplane.DomainPresets{"example.org": "gold"}},
			wantPreset: "gold", wantReason: `ends in "example.org"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			setClusterConfig(ctx, t, c, tc.cluster)
			got, err := dataplane.Choose(ctx, env.Config, tc.opts)
			if err != nil {
				t.Fatalf("Choose: %v", err)
			}
			if got.Preset != tc.wantPreset || !strings.Contains(got.Reason, tc.wantReason) {
				t.Errorf("Choose = %+v, want preset %q and a reason containing %q", got, tc.wantPreset, tc.wantReason)
			}
		})
	}

	t.Run("manager keeps the detected preset and says why", func(t *testing.T) {
		managerKeepsDetectedPreset(ctx, t, env, c)
	})
}

// managerKeepsDetectedPreset starts the real manager with detection on a cluster whose DNS
// says gold, and finds the gold data plane kept, with the reason in its status.
func managerKeepsDetectedPreset(ctx context.Context, t *testing.T, env *controlplane.Environment, c client.Client) {
	setClusterConfig(ctx, t, c, clusterConfig{baseDomain: "gold.devops.gov.bc.ca"})
	mctx, cancel := context.WithCancel(ctx)
	mgr, err := manager.New(mctx, env.Config, manager.Options{
		MetricsAddr: "0", ProbeAddr: "0",
		DetectDataPlanePreset: true, PresetDomains: dataplane.DefaultDomainPresets(),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	k8s, err := client.New(env.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	g := NewWithT(t)
	g.Eventually(func(g Gomega) {
		dp := &v1alpha1.GatewayDataPlane{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: dataplane.ObjectName("gold")}, dp)).To(Succeed())
		g.Expect(dp.Status.Source).To(Equal("preset:gold"))
		cond := meta.FindStatusCondition(dp.Status.Conditions, v1alpha1.ConditionPresetApplied)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Message).To(ContainSubstring(`detected on OpenShift: DNS "cluster" spec.baseDomain "gold.devops.gov.bc.ca"`))
	}, 60*time.Second, 100*time.Millisecond).Should(Succeed())
}

func TestChooseOnPlainKubernetes(t *testing.T) {
	env := startEnv(t)
	got, err := dataplane.Choose(context.Background(), env.Config,
		dataplane.Options{Detect: true, Domains: dataplane.DefaultDomainPresets()})
	if err != nil {
		t.Fatalf("Choose on plain Kubernetes: %v", err)
	}
	if got.Preset != "" || !strings.Contains(got.Reason, "not an OpenShift cluster") {
		t.Errorf("Choose = %+v, want no preset and a reason saying it is not OpenShift", got)
	}
}
