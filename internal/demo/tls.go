package demo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/proxyrun"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// The TLS part of the story (step 3).
const (
	// TLSTenant exposes TLSUpstreamService through the proxy.
	TLSTenant = "my-tls-api"
	// TLSUpstreamService is the TLS upstream's Service; its certificate carries its host.
	TLSUpstreamService = "my-tls-upstream-api"
	// CAConfigMap holds the root of the upstream's chain under ca.crt.
	CAConfigMap = "upstream-ca"
	// WrongCAConfigMap holds a root that did not issue the upstream's chain.
	WrongCAConfigMap = "other-ca"
)

// caKey is the key of a CA ConfigMap that the API documents: the tenant writes it.
const caKey = "ca.crt"

// tlsState is what step 3 keeps between its parts.
type tlsState struct {
	chain    *pki.Chain
	upstream *tlsUpstream
	proxy    *proxyrun.Process
	log      *os.File
	pods     int       // proxy pods mounted so far: each gets a fresh directory
	last     *Rendered // what the last pod ran
	// mount are the kubelet's options for the pods (step 5: pod certificates);
	// stopSigner stops the platform's signer, when it runs.
	mount      []kubelet.Option
	stopSigner func() error
}

// Rendered are the proxy objects the operator wrote for the TLS tenant, and the proxy pod its
// Deployment makes, mounted on this machine as the kubelet would.
type Rendered struct {
	Deployment *appsv1.Deployment
	Service    *corev1.Service
	// Config is the pod's configuration file (its container's --config), as rendered.
	Config *contract.Config
	// Pod is the pod's container with its volumes mounted.
	Pod *proxyrun.Pod
}

// TLSResult is what step 3a observed.
type TLSResult struct {
	// Tenant is the tenant once the operator saw the proxy roll out.
	Tenant   *v1alpha1.GatewayTenant
	Rendered *Rendered
	// Check is the output of `proxy --check` on the adapted configuration.
	Check string
	// Response is the answer through the proxy.
	Response proxyrun.Response
	// UpstreamHost is the name the upstream's certificate is verified against.
	UpstreamHost string
	// UpstreamRequests counts the requests that reached the upstream so far.
	UpstreamRequests int64
	// GatewayServices are the tenant's status.gatewayConfig, as `gwa apply -i -` reads it.
	GatewayServices []gatewaytenant.GatewayService
}

// FailureResult is what steps 3b and 3c observed.
type FailureResult struct {
	// Tenant is the tenant once the operator saw the proxy roll out: ProxyReady true, or Ready
	// false for a reason (see proxySettled).
	Tenant    *v1alpha1.GatewayTenant
	Rendered  *Rendered
	Response  proxyrun.Response
	RequestID string
	// LastResult is the proxy's /readyz lastResult of the upstream after the request.
	LastResult string
	// UpstreamRequestsBefore and UpstreamRequestsAfter count the requests that reached the
	// upstream before and after the failed one.
	UpstreamRequestsBefore, UpstreamRequestsAfter int64
}

// TLSUpstream is step 3a: a tenant whose upstream speaks TLS with a root -> intermediate ->
// leaf chain. The operator renders a proxy; the real proxy binary runs that pod here, and a
// request goes through it to the upstream over verified TLS.
func (s *Story) TLSUpstream(ctx context.Context) (*TLSResult, error) {
	p := s.p()
	p.step("3a. A TLS upstream: the operator renders a proxy that verifies it")
	host := serviceHost(TLSUpstreamService, Namespace)
	chain, err := pki.NewChain(pki.DNS(host))
	if err != nil {
		return nil, err
	}
	s.tls.chain = chain
	if s.tls.upstream, err = startTLSUpstream(TLSUpstreamService, chain.Leaf.TLSCertificate()); err != nil {
		return nil, err
	}
	p.line("upstream: a Go TLS server on %s sending its chain (leaf and intermediate): leaf %q (DNS SANs %s)",
		s.tls.upstream.addr, chain.Leaf.Cert.Subject.CommonName, strings.Join(chain.Leaf.Cert.DNSNames, ", "))
	p.line("  <- intermediate %q <- root %q", chain.Intermediate.Cert.Subject.CommonName, chain.Root.Cert.Subject.CommonName)
	if err := s.create(ctx, caConfigMap(CAConfigMap, chain.Root)); err != nil {
		return nil, err
	}
	p.line("created ConfigMap %s: key %s holds the root %q", CAConfigMap, caKey, chain.Root.Cert.Subject.CommonName)
	if err := s.create(ctx, upstreamService(TLSUpstreamService)); err != nil {
		return nil, err
	}
	p.line("created Service %s (selector name=%s, port %d)", TLSUpstreamService, TLSUpstreamService, UpstreamPort)
	if err := s.apply(ctx, newTenant(TLSTenant, tlsUpstreamSpec(host))); err != nil {
		return nil, err
	}

	r, err := s.rendered(ctx, nil)
	if err != nil {
		return nil, err
	}
	p.line("the operator rendered Deployment %s; its pod reads --config=%s, which is %s:",
		r.Deployment.Name, r.Pod.ConfigPath, r.Pod.ConfigSource)
	rendered, err := yaml.Marshal(r.Config)
	if err != nil {
		return nil, err
	}
	p.block(string(rendered))
	p.line("and Service %s (ports %s), and these NetworkPolicies:", r.Service.Name, servicePorts(r.Service))
	if err := s.showPolicies(ctx); err != nil {
		return nil, err
	}
	res := &TLSResult{Rendered: r, UpstreamHost: host}
	if res.Check, err = s.rollOut(ctx, r); err != nil {
		return res, err
	}
	if res.Response, err = s.request(ctx, "demo-verified"); err != nil {
		return res, err
	}
	res.UpstreamRequests = s.tls.upstream.requests.Load()
	if res.Tenant, err = s.proxyAvailable(ctx, r); err != nil {
		return res, err
	}
	if res.Tenant, err = s.verified(ctx, metav1.ConditionTrue, v1alpha1.ReasonVerified); err != nil {
		return res, err
	}
	p.tenantStatus(res.Tenant)
	if !meta.IsStatusConditionTrue(res.Tenant.Status.Conditions, v1alpha1.ConditionReady) {
		return res, fmt.Errorf("GatewayTenant %s is not Ready once its proxy is available", TLSTenant)
	}
	p.line("the gateway calls the proxy's Service %s over plain HTTP; the proxy speaks verified TLS to the upstream", r.Service.Name)
	if res.GatewayServices, err = s.gatewayDocument(res.Tenant); err != nil {
		return res, err
	}
	if res.Response.Status != 200 {
		return res, fmt.Errorf("the proxy answered %d, not 200: %s", res.Response.Status, res.Response.Body)
	}
	return res, nil
}

// ChainTooDeep is step 3b: with verifyDepth 0 the upstream's chain, which has one
// intermediate, is refused.
func (s *Story) ChainTooDeep(ctx context.Context) (*FailureResult, error) {
	p := s.p()
	p.step("3b. verifyDepth 0: the upstream's certificate must be signed directly by the CA")
	if err := s.patchTLS(ctx, `{"op":"replace","path":"/spec/upstreams/0/tls/verifyDepth","value":0}`, func(t *v1alpha1.UpstreamTLS) {
		t.VerifyDepth = ptr.To[int32](0)
	}); err != nil {
		return nil, err
	}
	r, err := s.rendered(ctx, func(r *Rendered) bool { return verifyDepth(r) == 0 })
	if err != nil {
		return nil, err
	}
	p.line("re-rendered: proxy.yaml now says upstreams[0].tls.verifyDepth: 0")
	s.showRoll(r)
	return s.failure(ctx, r, "demo-depth", contract.ReasonChainTooDeep, v1alpha1.ReasonChainTooDeep)
}

// WrongCA is step 3c: verifyDepth back to 1, but the tenant now trusts a root that did not
// issue the upstream's chain.
func (s *Story) WrongCA(ctx context.Context) (*FailureResult, error) {
	p := s.p()
	p.step("3c. A wrong CA: the tenant trusts a root that did not issue the upstream's chain")
	other, err := pki.NewRoot("other-root")
	if err != nil {
		return nil, err
	}
	if err := s.create(ctx, caConfigMap(WrongCAConfigMap, other)); err != nil {
		return nil, err
	}
	p.line("created ConfigMap %s: key %s holds the root %q", WrongCAConfigMap, caKey, other.Cert.Subject.CommonName)
	patch := `{"op":"replace","path":"/spec/upstreams/0/tls","value":{"validation":{"caCertificateRefs":[{"kind":"ConfigMap","name":"` +
		WrongCAConfigMap + `"}],"hostname":"` + serviceHost(TLSUpstreamService, Namespace) + `"},"verifyDepth":1}}`
	if err := s.patchTLS(ctx, patch, func(t *v1alpha1.UpstreamTLS) {
		t.VerifyDepth = ptr.To[int32](1)
		t.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Kind: "ConfigMap", Name: WrongCAConfigMap}}
	}); err != nil {
		return nil, err
	}
	r, err := s.rendered(ctx, func(r *Rendered) bool {
		return verifyDepth(r) == 1 && projects(r.Deployment, WrongCAConfigMap)
	})
	if err != nil {
		return nil, err
	}
	p.line("re-rendered: verifyDepth 1 again, and the pod mounts ConfigMap %s as the CA bundle", WrongCAConfigMap)
	s.showRoll(r)
	return s.failure(ctx, r, "demo-wrong-ca", contract.ReasonUnknownAuthority, v1alpha1.ReasonUnknownAuthority)
}

// failure rolls the proxy out with the rendered objects, sends a request that must fail with
// reason want, and shows the answer, the proxy's readiness and the tenant's status, which
// reports the proxy's verification as condition reason wantCondition.
func (s *Story) failure(ctx context.Context, r *Rendered, requestID string, want contract.Reason, wantCondition string) (*FailureResult, error) {
	p := s.p()
	res := &FailureResult{Rendered: r, RequestID: requestID}
	if _, err := s.rollOut(ctx, r); err != nil {
		return res, err
	}
	res.UpstreamRequestsBefore = s.tls.upstream.requests.Load()
	var err error
	if res.Response, err = s.request(ctx, requestID); err != nil {
		return res, err
	}
	res.UpstreamRequestsAfter = s.tls.upstream.requests.Load()
	p.line("requests that reached the upstream meanwhile: %d", res.UpstreamRequestsAfter-res.UpstreamRequestsBefore)
	_, rd, err := s.tls.proxy.Ready(ctx)
	if err != nil {
		return res, err
	}
	res.LastResult = rd.Upstreams[TLSUpstreamService].LastResult
	p.line("the proxy's /readyz: ready %t, upstream %s lastResult %q", rd.Ready, TLSUpstreamService, res.LastResult)
	if res.Tenant, err = s.proxyAvailable(ctx, r); err != nil {
		return res, err
	}
	if s.ProxyAdmin != nil {
		if res.Tenant, err = s.verified(ctx, metav1.ConditionFalse, wantCondition); err != nil {
			return res, err
		}
		p.line("the proxy verified the upstream when it started, before any request; the operator read its")
		p.line("result from the proxy's admin port (GET %s) and reports it: Verified=False, Ready=False, reason %s", contract.StatePath, wantCondition)
	}
	p.tenantStatus(res.Tenant)
	p.line("the proxy also counts failed handshakes of requests: gatewaytenant_proxy_upstream_handshake_failures_total{reason=%q}", want)
	if f := res.Response.Failure; res.Response.Status != 502 || f == nil || f.Reason != want {
		return res, fmt.Errorf("expected a 502 with reason %s, got %d: %s", want, res.Response.Status, res.Response.Body)
	}
	return res, nil
}

// showRoll says what changed in the proxy's pod template since the last pod ran, which is
// what makes the Deployment roll out a new pod.
func (s *Story) showRoll(r *Rendered) {
	if s.tls.last == nil {
		return
	}
	was, now := s.tls.last.Deployment.Spec.Template.Annotations, r.Deployment.Spec.Template.Annotations
	keys := make([]string, 0, len(now))
	for k := range now {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if was[k] != now[k] {
			s.p().line("pod template annotation %s: %s -> %s, so the Deployment rolls out a new pod", k, was[k], now[k])
		}
	}
	if !equality.Semantic.DeepEqual(s.tls.last.Deployment.Spec.Template.Spec.Volumes, r.Deployment.Spec.Template.Spec.Volumes) {
		s.p().line("the pod template's volumes changed, so the Deployment rolls out a new pod")
	}
}

// showPolicies lists the NetworkPolicies of the TLS tenant: who may reach which pods, and
// where the selected pods may connect.
func (s *Story) showPolicies(ctx context.Context) error {
	list := &networkingv1.NetworkPolicyList{}
	if err := s.Client.List(ctx, list, client.InNamespace(Namespace), client.MatchingLabels{v1alpha1.LabelTenant: TLSTenant}); err != nil {
		return err
	}
	for _, np := range list.Items {
		pods := metav1.FormatLabelSelector(&np.Spec.PodSelector)
		if len(np.Spec.Ingress) > 0 {
			rules := make([]string, 0, len(np.Spec.Ingress))
			for _, rule := range np.Spec.Ingress {
				rules = append(rules, policyRule(rule.From, rule.Ports))
			}
			s.p().line("NetworkPolicy %s: pods %s accept %s", np.Name, pods, strings.Join(rules, "; "))
		}
		if slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			rules := make([]string, 0, len(np.Spec.Egress))
			for _, rule := range np.Spec.Egress {
				rules = append(rules, policyRule(rule.To, rule.Ports))
			}
			s.p().line("NetworkPolicy %s: pods %s may connect to %s, nothing else", np.Name, pods, strings.Join(rules, "; "))
		}
	}
	return nil
}

// policyRule says which peers a rule admits, on which ports.
func policyRule(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) string {
	var who, on []string
	for _, peer := range peers {
		var parts []string
		if peer.NamespaceSelector != nil {
			parts = append(parts, "namespaces "+metav1.FormatLabelSelector(peer.NamespaceSelector))
		}
		if peer.PodSelector != nil {
			parts = append(parts, "pods "+metav1.FormatLabelSelector(peer.PodSelector))
		}
		who = append(who, strings.Join(parts, " "))
	}
	for _, port := range ports {
		on = append(on, fmt.Sprintf("%s/%s", port.Port.String(), *port.Protocol))
	}
	return fmt.Sprintf("%s on %s", strings.Join(who, " or "), strings.Join(on, ", "))
}

// rendered waits until the operator has reconciled the TLS tenant's current spec and written
// its proxy Deployment and Service, and returns them with the Deployment's pod mounted in a
// fresh directory, once ok (when given) holds.
func (s *Story) rendered(ctx context.Context, ok func(*Rendered) bool) (*Rendered, error) {
	t, err := s.waitTenant(ctx, TLSTenant, "its current spec", func(*v1alpha1.GatewayTenant) bool { return true })
	if err != nil {
		return nil, err
	}
	var r *Rendered
	var missing string
	err = s.poll(ctx, "the proxy's Deployment and Service", func(ctx context.Context) (bool, error) {
		var err error
		if r, missing, err = s.findRendered(ctx); err != nil || missing != "" {
			return false, err
		}
		if ok == nil || ok(r) {
			return true, nil
		}
		return false, os.RemoveAll(r.Pod.Root)
	})
	if err != nil {
		if missing != "" {
			err = fmt.Errorf("%w; there is %s", err, missing)
		}
		return nil, fmt.Errorf("%w (tenant status: %v)", err, t.Status.Conditions)
	}
	return r, nil
}

// findRendered finds the TLS tenant's proxy Deployment and Service by the tenant's label,
// and mounts the Deployment's pod; it says what is missing.
func (s *Story) findRendered(ctx context.Context) (*Rendered, string, error) {
	sel := client.MatchingLabels{v1alpha1.LabelTenant: TLSTenant}
	in := client.InNamespace(Namespace)
	deps, svcs := &appsv1.DeploymentList{}, &corev1.ServiceList{}
	for _, l := range []client.ObjectList{deps, svcs} {
		if err := s.Client.List(ctx, l, in, sel); err != nil {
			return nil, "", err
		}
	}
	if len(deps.Items) != 1 || len(svcs.Items) != 1 {
		return nil, fmt.Sprintf("%d Deployments and %d Services labelled %s=%s (want 1 each)",
			len(deps.Items), len(svcs.Items), v1alpha1.LabelTenant, TLSTenant), nil
	}
	r := &Rendered{Deployment: &deps.Items[0], Service: &svcs.Items[0]}
	root, err := os.MkdirTemp(s.WorkDir, "pod-")
	if err != nil {
		return nil, "", err
	}
	if r.Pod, err = proxyrun.MountPod(ctx, s.Client, Namespace, &r.Deployment.Spec.Template.Spec, root, s.tls.mount...); err != nil {
		return nil, "", errors.Join(fmt.Errorf("proxy Deployment %s: %w", r.Deployment.Name, err), os.RemoveAll(root))
	}
	r.Config = r.Pod.Config
	return r, "", nil
}

// rollOut plays the Deployment controller and the kubelet for a new proxy pod: it stops the
// previous proxy, shows the pod's mounted files, adapts the rendered configuration to this
// machine, checks it with `proxy --check`, runs the proxy and waits until it is ready. It
// returns the check's output.
func (s *Story) rollOut(ctx context.Context, r *Rendered) (string, error) {
	p := s.p()
	if s.tls.proxy != nil {
		p.line("stopping the previous proxy pod (SIGTERM: it drains, then exits)")
		err := s.tls.proxy.Stop()
		s.tls.proxy = nil
		if err != nil {
			return "", err
		}
	}
	s.tls.pods++
	p.line("proxy pod %d: the container's volumes, mounted under %s as the kubelet lays them out:", s.tls.pods, r.Pod.Root)
	for _, f := range r.Pod.Files {
		p.line("  %s <- %s", f.Path, f.Source)
	}
	config, changes, err := r.Pod.Localise(s.tls.upstream.addr)
	if err != nil {
		return "", err
	}
	if err := checkOften(config); err != nil {
		return "", err
	}
	changes = append(changes, fmt.Sprintf("verification.interval: 30s -> %s (changes show within seconds)", demoCheckInterval))
	if s.tls.pods == 1 {
		p.line("the rendered configuration adapted to this machine (what it verifies stays as rendered):")
		for _, c := range changes {
			p.line("  %s", c)
		}
	} else {
		p.line("the rendered configuration adapted to this machine as for pod 1 (%d changes)", len(changes))
	}
	s.tls.last = r
	p.line("$ proxy --config %s --check", config)
	check, err := proxyrun.Check(ctx, s.ProxyBinary, config)
	p.block(check)
	if err != nil {
		return check, err
	}
	if err := s.startProxy(ctx, config); err != nil {
		return check, err
	}
	return check, s.publishPod(ctx, r)
}

// publishPod plays the EndpointSlice controller for the running proxy pod: the proxy
// Service's EndpointSlice names it, ready, at a pod address, and the manager reads the
// pod's verification results there (the demo's cluster dials the proxy's admin port on
// loopback for it).
func (s *Story) publishPod(ctx context.Context, r *Rendered) error {
	if s.ProxyAdmin == nil {
		return nil
	}
	admin := s.tls.proxy.Addr(contract.AdminListener)
	s.ProxyAdmin.Store(&admin)
	pod, ip := podName(r.Deployment.Name, s.tls.pods), fmt.Sprintf("10.0.0.%d", 10+s.tls.pods)
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: r.Service.Name + "-demo"}}
	_, err := controllerutil.CreateOrUpdate(ctx, s.Client, slice, func() error {
		slice.Labels = map[string]string{discoveryv1.LabelServiceName: r.Service.Name}
		maps.Copy(slice.Labels, r.Service.Labels)
		slice.AddressType = discoveryv1.AddressTypeIPv4
		slice.Endpoints = []discoveryv1.Endpoint{{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: Namespace, Name: pod},
		}}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publishing the proxy pod in EndpointSlice %s: %w", slice.Name, err)
	}
	s.p().line("EndpointSlice %s names pod %s ready at %s, as the EndpointSlice controller would; the operator", slice.Name, pod, ip)
	s.p().line("reads the pod's verification results from its admin port (here %s)", admin)
	return nil
}

// podName names the pod-th proxy pod of a Deployment, as its EndpointSlice names it.
func podName(deployment string, pod int) string { return fmt.Sprintf("%s-pod-%d", deployment, pod) }

// verified waits until the TLS upstream's Verified condition has status and reason.
func (s *Story) verified(ctx context.Context, status metav1.ConditionStatus, reason string) (*v1alpha1.GatewayTenant, error) {
	if s.ProxyAdmin == nil {
		return s.waitTenant(ctx, TLSTenant, "its current spec", func(*v1alpha1.GatewayTenant) bool { return true })
	}
	return s.waitTenant(ctx, TLSTenant, fmt.Sprintf("Verified=%s/%s", status, reason), func(t *v1alpha1.GatewayTenant) bool {
		if len(t.Status.Upstreams) == 0 {
			return false
		}
		c := meta.FindStatusCondition(t.Status.Upstreams[0].Conditions, v1alpha1.ConditionVerified)
		return c != nil && c.ObservedGeneration == t.Generation && c.Status == status && c.Reason == reason && proxySettled(t)
	})
}

// startProxy runs the proxy with config and waits for its /readyz.
func (s *Story) startProxy(ctx context.Context, config string) error {
	logPath := filepath.Join(s.WorkDir, "proxy.log")
	if s.tls.log == nil {
		f, err := os.Create(logPath)
		if err != nil {
			return err
		}
		s.tls.log = f
	}
	s.p().line("$ proxy --config %s   (log: %s)", config, logPath)
	proc, err := proxyrun.Start(s.ProxyBinary, config, s.tls.log)
	if err != nil {
		return err
	}
	s.tls.proxy = proc
	st, err := proc.WaitReady(ctx, s.timeout(), TLSUpstreamService)
	if err != nil {
		return err
	}
	s.p().line("ready: upstream listener on %s, admin on %s; /readyz says %q",
		proc.Addr(TLSUpstreamService), proc.Addr(contract.AdminListener), st.Upstreams[TLSUpstreamService].CA)
	return nil
}

// request sends GET /hello through the proxy's listener of the TLS upstream and shows the answer.
func (s *Story) request(ctx context.Context, requestID string) (proxyrun.Response, error) {
	url := s.tls.proxy.URL(TLSUpstreamService, "/hello")
	s.p().line("$ curl -H 'X-Request-Id: %s' %s", requestID, url)
	resp, err := proxyrun.Get(ctx, url, requestID)
	if err != nil {
		return resp, fmt.Errorf("requesting %s: %w", url, err)
	}
	s.p().line("HTTP %d %s", resp.Status, resp.ContentType)
	s.p().block(resp.Body)
	return resp, nil
}

// proxyAvailable marks the proxy Deployment available, as the Deployment controller would
// once the pod is ready (envtest runs neither it nor a kubelet), and waits until the tenant's
// status has taken the rollout in (proxySettled).
func (s *Story) proxyAvailable(ctx context.Context, r *Rendered) (*v1alpha1.GatewayTenant, error) {
	if err := controlplane.MarkDeploymentAvailable(ctx, s.Client, client.ObjectKeyFromObject(r.Deployment)); err != nil {
		return nil, fmt.Errorf("marking Deployment %s available: %w", r.Deployment.Name, err)
	}
	s.p().line("marked Deployment %s available, as the Deployment controller would now that the pod is ready", r.Deployment.Name)
	return s.waitTenant(ctx, TLSTenant, "a settled "+v1alpha1.ConditionProxyReady, proxySettled)
}

// proxySettled says whether the tenant's status judges the rolled-out proxy: ProxyReady is
// set for the current generation and no longer waits for the rollout. Whether the judgement
// is right is each step's to check.
func proxySettled(t *v1alpha1.GatewayTenant) bool {
	c := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionProxyReady)
	return c != nil && c.ObservedGeneration == t.Generation && c.Reason != v1alpha1.ReasonProxyProgressing
}

// patchTLS changes the TLS block of the TLS tenant's upstream; jsonPatch is the same change
// as a person would type it.
func (s *Story) patchTLS(ctx context.Context, jsonPatch string, mutate func(*v1alpha1.UpstreamTLS)) error {
	s.p().line("kubectl -n %s patch gatewaytenant %s --type=json -p '[%s]'", Namespace, TLSTenant, jsonPatch)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		t := &v1alpha1.GatewayTenant{}
		if err := s.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: TLSTenant}, t); err != nil {
			return err
		}
		mutate(t.Spec.Upstreams[0].TLS)
		return s.Client.Update(ctx, t)
	})
}

// tlsUpstreamSpec is the TLS upstream: CA from CAConfigMap, the Service host as the name to
// verify, at most one intermediate.
func tlsUpstreamSpec(host string) v1alpha1.Upstream {
	u := upstream(TLSUpstreamService, host, UpstreamPort)
	u.TLS = &v1alpha1.UpstreamTLS{
		Validation: v1alpha1.UpstreamTLSValidation{
			CACertificateRefs: []v1alpha1.CACertificateReference{{Kind: "ConfigMap", Name: CAConfigMap}},
			Hostname:          ptr.To(gwapiv1.PreciseHostname(host)),
		},
		VerifyDepth: ptr.To[int32](1),
	}
	return u
}

// caConfigMap is a CA ConfigMap as a tenant writes it: the root under ca.crt.
func caConfigMap(name string, root *pki.Cert) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Data:       map[string]string{caKey: string(root.CertPEM())},
	}
}

// verifyDepth is the rendered verifyDepth of the TLS upstream, -1 when unset or absent.
func verifyDepth(r *Rendered) int {
	for _, u := range r.Config.Upstreams {
		if u.Name == TLSUpstreamService && u.TLS != nil && u.TLS.VerifyDepth != nil {
			return *u.TLS.VerifyDepth
		}
	}
	return -1
}

// projects says whether the Deployment's pod mounts the ConfigMap named name.
func projects(dep *appsv1.Deployment, name string) bool {
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == name {
			return true
		}
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ConfigMap != nil && src.ConfigMap.Name == name {
				return true
			}
		}
	}
	return false
}

func servicePorts(svc *corev1.Service) string {
	ports := make([]string, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s %d -> %s", p.Name, p.Port, p.TargetPort.String()))
	}
	return strings.Join(ports, ", ")
}
