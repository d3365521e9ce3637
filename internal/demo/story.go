package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
)

// The story's cast, as in the gateway's tenant guide.
const (
	// Namespace is the tenant's namespace.
	Namespace = "abc123-prod"
	// UpstreamService is the plain upstream's Service; its pods carry name=<UpstreamService>.
	UpstreamService = "my-upstream-api"
	// UpstreamPort is the port of both upstream Services, and their target port.
	UpstreamPort = 8443
	// PlainTenant exposes UpstreamService (step 1).
	PlainTenant = "my-api"
	// WrongPortTenant names a port the Service does not have (step 2).
	WrongPortTenant = "wrong-port"
	// OtherNamespaceTenant names a Service of another namespace (step 2).
	OtherNamespaceTenant = "other-namespace"
	// OtherNamespace is the namespace OtherNamespaceTenant wrongly names.
	OtherNamespace = "xyz789-prod"
)

// defaultTimeout bounds every wait: generous, for a loaded machine.
const defaultTimeout = 2 * time.Minute

// Story plays the demo against a cluster running the manager. Each step is a method that
// prints its progress, waits for the operator, and returns what it observed, so that the
// end-to-end suite asserts the very same steps. Steps run in order, once.
type Story struct {
	// Client talks to the API server without a cache.
	Client client.Client
	// Out receives the progress lines.
	Out io.Writer
	// ProxyBinary is the path of the proxy binary (cmd/proxy).
	ProxyBinary string
	// WorkDir holds the materialised proxy pods and the proxy's log.
	WorkDir string
	// Timeout bounds each wait; default two minutes.
	Timeout time.Duration
	// ProxyAdmin, when set, receives the running proxy's admin address, where the manager
	// reads its verification results (Cluster.ProxyAdmin); the story then publishes the proxy
	// pod in its Service's EndpointSlice, as the EndpointSlice controller would.
	ProxyAdmin *atomic.Pointer[string]
	// Watch is a client that can watch, for the platform's pod certificate signer (step 5).
	Watch client.WithWatch

	tls tlsState
}

// Play runs every step, in order, and fails at the first step that does not happen as
// described: `make demo` exits non-zero then.
func (s *Story) Play(ctx context.Context) error {
	steps := []func(context.Context) error{
		func(ctx context.Context) error { _, err := s.Setup(ctx); return err },
		func(ctx context.Context) error { _, err := s.PlainUpstream(ctx); return err },
		func(ctx context.Context) error { _, err := s.WrongPort(ctx); return err },
		func(ctx context.Context) error { _, err := s.OtherNamespace(ctx); return err },
		func(ctx context.Context) error { _, err := s.TLSUpstream(ctx); return err },
		func(ctx context.Context) error { _, err := s.ChainTooDeep(ctx); return err },
		func(ctx context.Context) error { _, err := s.WrongCA(ctx); return err },
		func(ctx context.Context) error { _, err := s.RightCA(ctx); return err },
		func(ctx context.Context) error { _, err := s.CommonNameOnly(ctx); return err },
		func(ctx context.Context) error { _, err := s.GatewayVerifies(ctx); return err },
		func(ctx context.Context) error { _, err := s.ImplementationReports(ctx); return err },
		func(ctx context.Context) error { _, err := s.NotExpressible(ctx); return err },
		func(ctx context.Context) error { _, err := s.ClusterTrust(ctx); return err },
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	s.p().step("Done: every step behaved as described")
	return nil
}

// Close stops what the story started outside the cluster: the proxy and the TLS upstream.
func (s *Story) Close() error {
	var errs []error
	if s.tls.proxy != nil {
		errs = append(errs, s.tls.proxy.Stop())
		s.tls.proxy = nil
	}
	if s.tls.upstream != nil {
		errs = append(errs, s.tls.upstream.close())
		s.tls.upstream = nil
	}
	if s.tls.log != nil {
		errs = append(errs, s.tls.log.Close())
		s.tls.log = nil
	}
	if s.tls.stopSigner != nil {
		errs = append(errs, s.tls.stopSigner())
		s.tls.stopSigner = nil
	}
	return errors.Join(errs...)
}

func (s *Story) p() printer { return printer{s.Out} }

func (s *Story) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return defaultTimeout
}

// poll calls cond until it is true, fails, or the timeout passes.
func (s *Story) poll(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, s.timeout(), true, cond); err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

// Setup creates the tenant's namespace and waits for the data plane the manager keeps from
// the silver preset.
func (s *Story) Setup(ctx context.Context) (*v1alpha1.GatewayDataPlane, error) {
	p := s.p()
	p.step("0. The platform: the manager runs with --data-plane-preset=silver")
	dp := &v1alpha1.GatewayDataPlane{}
	err := s.poll(ctx, "the silver GatewayDataPlane", func(ctx context.Context) (bool, error) {
		err := s.Client.Get(ctx, client.ObjectKey{Name: dataplane.ObjectName("silver")}, dp)
		return err == nil, client.IgnoreNotFound(err)
	})
	if err != nil {
		return nil, err
	}
	p.line("GatewayDataPlane %s (default: %t) recognises the gateway's namespaces by label:", dp.Name, dp.Spec.Default)
	for _, env := range dp.Spec.Environments {
		p.line("  environment %-5s -> %s", env.Name, metav1.FormatLabelSelector(&env.NamespaceSelector))
	}
	if gs := dp.Spec.GatewayService; gs != nil {
		p.line("and wants each upstream described as a %s document tagged %s, protocol %s", gs.Format, gs.NamespaceTag, gs.Protocol)
	}
	if err := s.create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}); err != nil {
		return nil, err
	}
	p.line("created Namespace %s, the tenant's", Namespace)
	return dp, nil
}

// PlainResult is what step 1 observed.
type PlainResult struct {
	Tenant        *v1alpha1.GatewayTenant
	NetworkPolicy *networkingv1.NetworkPolicy
	// GatewayServices are the tenant's status.gatewayConfig, as `gwa apply -i -` reads it.
	GatewayServices []gatewaytenant.GatewayService
}

// PlainUpstream is step 1: a tenant exposes a plain upstream to the gateway's test and prod
// environments; the operator writes the NetworkPolicy and tells what to write in the gateway.
func (s *Story) PlainUpstream(ctx context.Context) (*PlainResult, error) {
	p := s.p()
	p.step("1. A tenant exposes a plain upstream to the gateway's test and prod environments")
	svc := upstreamService(UpstreamService)
	if err := s.create(ctx, svc); err != nil {
		return nil, err
	}
	p.line("created Service %s (selector name=%s, port %d)", svc.Name, UpstreamService, UpstreamPort)
	tenant := newTenant(PlainTenant, upstream(UpstreamService, serviceHost(UpstreamService, Namespace), UpstreamPort))
	if err := s.apply(ctx, tenant); err != nil {
		return nil, err
	}
	t, err := s.waitTenant(ctx, PlainTenant, "Ready=True", func(t *v1alpha1.GatewayTenant) bool {
		return meta.IsStatusConditionTrue(t.Status.Conditions, v1alpha1.ConditionReady)
	})
	if err != nil {
		return nil, err
	}
	np, err := s.upstreamPolicy(ctx, PlainTenant, UpstreamService)
	if err != nil {
		return nil, err
	}
	p.line("the operator wrote this NetworkPolicy: the Silver policy of the gateway's tenant guide, narrowed")
	p.line("to the Service's target port, and owned by the tenant:")
	p.block(yamlOf(np))
	p.tenantStatus(t)
	svcs, err := s.gatewayDocument(t)
	if err != nil {
		return nil, err
	}
	return &PlainResult{Tenant: t, NetworkPolicy: np, GatewayServices: svcs}, nil
}

// WrongPort is step 2a: a tenant names the upstream's container port instead of a port of
// its Service.
func (s *Story) WrongPort(ctx context.Context) (*v1alpha1.GatewayTenant, error) {
	s.p().step("2a. A tenant names a port the Service does not have")
	return s.mistake(ctx, newTenant(WrongPortTenant, upstream(UpstreamService, serviceHost(UpstreamService, Namespace), 443)))
}

// OtherNamespace is step 2b: a tenant names a Service of another namespace.
func (s *Story) OtherNamespace(ctx context.Context) (*v1alpha1.GatewayTenant, error) {
	s.p().step("2b. A tenant names a Service of another namespace")
	return s.mistake(ctx, newTenant(OtherNamespaceTenant, upstream(UpstreamService, serviceHost(UpstreamService, OtherNamespace), UpstreamPort)))
}

func (s *Story) mistake(ctx context.Context, tenant *v1alpha1.GatewayTenant) (*v1alpha1.GatewayTenant, error) {
	if err := s.apply(ctx, tenant); err != nil {
		return nil, err
	}
	t, err := s.waitTenant(ctx, tenant.Name, "Ready=False", func(t *v1alpha1.GatewayTenant) bool {
		return meta.IsStatusConditionFalse(t.Status.Conditions, v1alpha1.ConditionReady)
	})
	if err != nil {
		return nil, err
	}
	s.p().tenantStatus(t)
	return t, nil
}

// create creates obj; one that already exists is an error (the story runs once per cluster).
func (s *Story) create(ctx context.Context, obj client.Object) error {
	if err := s.Client.Create(ctx, obj); err != nil {
		return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// apply prints an object (a tenant, a data plane) as a person would write it, and creates it.
func (s *Story) apply(ctx context.Context, obj client.Object) error {
	s.p().line("kubectl apply -f - <<EOF")
	s.p().block(yamlOf(obj))
	s.p().line("EOF")
	return s.create(ctx, obj)
}

// reconciled says whether the operator has written the tenant's status for its current spec.
func reconciled(t *v1alpha1.GatewayTenant) bool {
	ready := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionReady)
	return t.Status.ObservedGeneration == t.Generation && ready != nil && ready.ObservedGeneration == t.Generation
}

// waitTenant waits until the operator reconciled the tenant's current spec and ok holds.
func (s *Story) waitTenant(ctx context.Context, name, what string, ok func(*v1alpha1.GatewayTenant) bool) (*v1alpha1.GatewayTenant, error) {
	t := &v1alpha1.GatewayTenant{}
	last := ""
	err := s.poll(ctx, fmt.Sprintf("GatewayTenant %s to be reconciled with %s", name, what), func(ctx context.Context) (bool, error) {
		if err := s.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: name}, t); err != nil {
			return false, err
		}
		if ready := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionReady); ready != nil {
			last = fmt.Sprintf("Ready=%s %s: %s", ready.Status, ready.Reason, ready.Message)
		}
		return reconciled(t) && ok(t), nil
	})
	if err != nil && last != "" {
		err = fmt.Errorf("%w (last seen %s)", err, last)
	}
	return t, err
}

// upstreamPolicy is the NetworkPolicy the operator wrote for one upstream of a tenant.
func (s *Story) upstreamPolicy(ctx context.Context, tenant, upstream string) (*networkingv1.NetworkPolicy, error) {
	list := &networkingv1.NetworkPolicyList{}
	err := s.Client.List(ctx, list, client.InNamespace(Namespace),
		client.MatchingLabels{v1alpha1.LabelTenant: tenant, v1alpha1.LabelUpstream: upstream})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		if strings.HasSuffix(list.Items[i].Name, "-from-gateway") || len(list.Items) == 1 {
			return &list.Items[i], nil
		}
	}
	return nil, fmt.Errorf("no NetworkPolicy labelled %s=%s, %s=%s in %s", v1alpha1.LabelTenant, tenant, v1alpha1.LabelUpstream, upstream, Namespace)
}

func serviceHost(service, namespace string) string { return service + "." + namespace + ".svc" }

// upstreamService is a Service selecting pods name=<name> on UpstreamPort.
func upstreamService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"name": name},
			Ports: []corev1.ServicePort{{
				Name: "https", Protocol: corev1.ProtocolTCP, Port: UpstreamPort, TargetPort: intstr.FromInt32(UpstreamPort),
			}},
		},
	}
}

func upstream(name, host string, port int32) v1alpha1.Upstream {
	return v1alpha1.Upstream{Name: name, Host: host, Port: port}
}

// newTenant is a tenant of Namespace for the gateway's test and prod environments, on the
// gateway GatewayID.
func newTenant(name string, upstreams ...v1alpha1.Upstream) *v1alpha1.GatewayTenant {
	return &v1alpha1.GatewayTenant{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: v1alpha1.GatewayTenantSpec{
			Environments: []v1alpha1.EnvironmentName{"test", "prod"},
			GatewayID:    GatewayID,
			Upstreams:    upstreams,
		},
	}
}
