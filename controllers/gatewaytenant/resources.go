package gatewaytenant

// The desired objects of a tenant, as pure functions of the tenant and what was observed: no
// client, no scheme. write.go writes them by the rule of apply.go.

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// labelNamespaceName is set by the API server on every namespace to its name; tenants
// cannot spoof it, so it pins a data plane's namespaces by name.
const labelNamespaceName = "kubernetes.io/metadata.name"

// gatewayPeers are the NetworkPolicy peers of a data plane's environments: one per
// environment, its namespace selector, narrowed to its namespace names when it pins them.
func gatewayPeers(envs []v1alpha1.DataPlaneEnvironment) []networkingv1.NetworkPolicyPeer {
	peers := make([]networkingv1.NetworkPolicyPeer, 0, len(envs))
	for _, env := range envs {
		sel := env.NamespaceSelector.DeepCopy()
		if len(env.NamespaceNames) > 0 {
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
				Key:      labelNamespaceName,
				Operator: metav1.LabelSelectorOpIn,
				Values:   append([]string(nil), env.NamespaceNames...),
			})
		}
		peers = append(peers, networkingv1.NetworkPolicyPeer{NamespaceSelector: sel})
	}
	return peers
}

// ingressFrom builds one ingress rule per peer, each to the same ports: the shape of the
// gateway platform's documented policy, one "from" entry per gateway environment.
func ingressFrom(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) []networkingv1.NetworkPolicyIngressRule {
	rules := make([]networkingv1.NetworkPolicyIngressRule, 0, len(peers))
	for _, peer := range peers {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			From:  []networkingv1.NetworkPolicyPeer{peer},
			Ports: ports,
		})
	}
	return rules
}

// upstreamNetworkPolicy is the NetworkPolicy that lets the gateway's namespaces reach the pods
// of one plain upstream on its target ports, and nothing else.
func upstreamNetworkPolicy(tenant *v1alpha1.GatewayTenant, res upstreamResult, peers []networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
	meta := metav1.ObjectMeta{
		Name:      networkPolicyName(tenant.Name, res.upstream.Name),
		Namespace: tenant.Namespace,
		Labels:    upstreamLabels(tenant.Name, res.upstream.Name),
	}
	return ingressPolicy(meta, res.podSelector, peers, res.ports)
}

// ingressPolicy lets each peer reach the pods selected by podSelector on ports.
func ingressPolicy(meta metav1.ObjectMeta, podSelector map[string]string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: meta,
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: podSelector},
			Ingress:     ingressFrom(peers, ports),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
}

// networkPolicyName names the NetworkPolicy of one upstream of a tenant. The dot parts the
// tenant from the upstream: neither name may hold one, so tenants "a" with upstream "b-c" and
// "a-b" with upstream "c" never share a policy name.
func networkPolicyName(tenant, upstream string) string {
	return tenant + "." + upstream + "-from-gateway"
}

// tenantLabels are the labels of every object created for a tenant; the operator's caches
// select on them.
func tenantLabels(tenant string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "gatewaytenant",
		"app.kubernetes.io/instance": tenant,
		v1alpha1.LabelManagedBy:      v1alpha1.ManagedByValue,
		v1alpha1.LabelTenant:         tenant,
		"app.kubernetes.io/part-of":  "gatewaytenant-operator",
		contract.LabelComponent:      "gateway-access",
	}
}

// upstreamLabels are the labels of an object created for one upstream of a tenant.
func upstreamLabels(tenant, upstream string) map[string]string {
	l := tenantLabels(tenant)
	l[v1alpha1.LabelUpstream] = upstream
	return l
}

// Where the proxy pod finds its files, and the ports it serves.
const (
	proxyConfigKey   = "proxy.yaml"
	proxyConfigDir   = "/etc/gatewaytenant/config"
	proxyUpstreamDir = "/etc/gatewaytenant/upstreams"
	proxyAdminPort   = contract.AdminPort
	// proxyFirstListenPort is the container port of the first upstream; upstream i of the
	// spec listens on proxyFirstListenPort+i, so ports stay put when others come and go.
	proxyFirstListenPort = 8000
	// annotationConfigHash on the pod template rolls the proxy when its configuration changes.
	// Certificates are not in it: the proxy reloads those from the mounted files.
	annotationConfigHash = "gatewaytenant.io/config-hash"
	componentProxy       = contract.Component
)

// ProxySettings are the operator-wide settings of every tenant's proxy.
type ProxySettings struct {
	// Image runs the proxy binary at /proxy.
	Image string
	// Replicas of each tenant's proxy Deployment unless the tenant sets spec.proxy.replicas.
	Replicas int32
	// Resources of the proxy container unless the tenant sets spec.proxy.resources; empty
	// means DefaultProxyResources.
	Resources corev1.ResourceRequirements
	// MaxReplicas and MaxResources bound what a tenant may ask for; zero and absent: no bound.
	MaxReplicas  int32
	MaxResources corev1.ResourceList
	// Monitoring says how the cluster's Prometheus reaches the proxies (monitoring.go).
	Monitoring MonitoringSettings
	// ClusterDNS is where the proxy resolves its upstreams' names; its egress policy opens
	// it. The zero value means KubeDNS.
	ClusterDNS ClusterDNS
}

// clusterDNS is the configured cluster DNS, KubeDNS when none is.
func (s ProxySettings) clusterDNS() ClusterDNS {
	if s.ClusterDNS.Namespace == "" {
		return KubeDNS
	}
	return s.ClusterDNS
}

// proxyUpstream is a valid TLS upstream as the proxy serves it.
type proxyUpstream struct {
	upstreamResult
	index       int   // position in spec.upstreams
	listenPort  int32 // container port
	servicePort int32 // port of the proxy Service: what the gateway calls
}

// proxyUpstreams picks the valid TLS upstreams and assigns their ports. The Service port is
// the upstream's own port, so the gateway keeps the port it knows, unless two TLS upstreams
// share a port; then the later ones use their listen port.
func proxyUpstreams(tenant *v1alpha1.GatewayTenant, results []upstreamResult) []proxyUpstream {
	index := map[string]int{}
	for i, u := range tenant.Spec.Upstreams {
		index[u.Name] = i
	}
	var out []proxyUpstream
	used := map[int32]bool{proxyAdminPort: true}
	for _, r := range results {
		if !r.valid() || r.upstream.TLS == nil {
			continue
		}
		pu := proxyUpstream{upstreamResult: r, index: index[r.upstream.Name]}
		pu.listenPort = proxyFirstListenPort + int32(pu.index)
		pu.servicePort = r.upstream.Port
		if used[pu.servicePort] {
			pu.servicePort = pu.listenPort
		}
		used[pu.servicePort] = true
		out = append(out, pu)
	}
	return out
}

// proxyName names the proxy's ConfigMap, Deployment, Service, ServiceAccount and PDB: a
// DNS label of at most 63 characters.
func proxyName(tenant string) string {
	name := tenant + "-proxy"
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(tenant))
	return tenant[:48] + "-" + hex.EncodeToString(sum[:])[:8] + "-proxy"
}

func proxyLabels(tenant string) map[string]string {
	l := tenantLabels(tenant)
	l[contract.LabelComponent] = componentProxy
	return l
}

// proxySelector selects the pods of one tenant's proxy.
func proxySelector(tenant string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": "gatewaytenant-proxy", v1alpha1.LabelTenant: tenant}
}

func proxyMeta(tenant *v1alpha1.GatewayTenant, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: tenant.Namespace, Labels: proxyLabels(tenant.Name)}
}

// proxyConfigMap holds the proxy's configuration and the record of the upstreams it serves,
// from which an upstream whose spec turns invalid keeps being served.
func proxyConfigMap(tenant *v1alpha1.GatewayTenant, config proxyConfig, ups []proxyUpstream) *corev1.ConfigMap {
	meta := proxyMeta(tenant, proxyName(tenant.Name))
	meta.Annotations = map[string]string{annotationLastGood: encodeLastGood(ups)}
	return &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{proxyConfigKey: string(config.data)}}
}

func proxyServiceAccount(tenant *v1alpha1.GatewayTenant) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta:                   proxyMeta(tenant, proxyName(tenant.Name)),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

func proxyService(tenant *v1alpha1.GatewayTenant, ups []proxyUpstream) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: proxyMeta(tenant, proxyName(tenant.Name)),
		Spec:       corev1.ServiceSpec{Selector: proxySelector(tenant.Name)},
	}
	for _, u := range ups {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: u.upstream.Name, Protocol: corev1.ProtocolTCP, Port: u.servicePort,
			TargetPort: intstr.FromInt32(u.listenPort), AppProtocol: ptr.To("http"),
		})
	}
	return svc
}

func proxyPDB(tenant *v1alpha1.GatewayTenant) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: proxyMeta(tenant, proxyName(tenant.Name)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(1)),
			Selector:     &metav1.LabelSelector{MatchLabels: proxySelector(tenant.Name)},
		},
	}
}

// proxyPolicy is the one NetworkPolicy of the tenant's proxy pods. Ingress: the gateway's
// environments to the listeners, and the operator's and the monitoring namespaces (when
// known) to the admin port; the gateway never reaches the admin port. Egress: each served
// upstream's pods on their target ports, and the cluster DNS; nothing else.
func proxyPolicy(tenant *v1alpha1.GatewayTenant, ups []proxyUpstream, peers []networkingv1.NetworkPolicyPeer,
	admin []*networkingv1.NetworkPolicyPeer, dns ClusterDNS) *networkingv1.NetworkPolicy {
	var ports []networkingv1.NetworkPolicyPort
	for _, u := range ups {
		ports = append(ports, tcpPort(u.listenPort))
	}
	// Named like the proxy's other objects: no per-upstream policy name (<tenant>.<upstream>-...)
	// can equal it.
	np := ingressPolicy(proxyMeta(tenant, proxyName(tenant.Name)), proxySelector(tenant.Name), peers, ports)
	for _, peer := range admin {
		if peer != nil {
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
				From: []networkingv1.NetworkPolicyPeer{*peer}, Ports: []networkingv1.NetworkPolicyPort{tcpPort(proxyAdminPort)},
			})
		}
	}
	np.Spec.Egress = proxyEgressRules(ups, dns)
	np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
	return np
}

// upstreamProxyPolicy lets the tenant's proxy pods, and nothing else, reach a TLS upstream's
// pods on its target port.
func upstreamProxyPolicy(tenant *v1alpha1.GatewayTenant, u proxyUpstream) *networkingv1.NetworkPolicy {
	peers := []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: proxySelector(tenant.Name)}}}
	meta := metav1.ObjectMeta{
		Name:      tenant.Name + "." + u.upstream.Name + "-from-proxy",
		Namespace: tenant.Namespace,
		Labels:    upstreamLabels(tenant.Name, u.upstream.Name),
	}
	return ingressPolicy(meta, u.podSelector, peers, u.ports)
}

func tcpPort(port int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(port))}
}

// proxyDeployment runs the proxy under the restricted Pod Security profile and OpenShift's
// restricted-v2 SCC as they stand: non-root with no fixed UID, no privilege escalation, no
// capabilities, the runtime's seccomp profile, a read-only root filesystem. Its pods also
// carry workload, the labels the cluster requires on every pod (the data plane's data-class
// label); the operator's own labels win over them.
func proxyDeployment(tenant *v1alpha1.GatewayTenant, ups []proxyUpstream, config proxyConfig, s ProxySettings, workload map[string]string) *appsv1.Deployment {
	name := proxyName(tenant.Name)
	podLabels := maps.Clone(workload)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	maps.Copy(podLabels, proxyLabels(tenant.Name))
	maps.Copy(podLabels, proxySelector(tenant.Name))
	volumes, mounts := proxyVolumes(name, ups)
	container := corev1.Container{
		Name:           componentProxy,
		Image:          s.Image,
		Command:        []string{"/proxy"},
		Args:           []string{"--config=" + proxyConfigDir + "/" + proxyConfigKey},
		Ports:          []corev1.ContainerPort{{Name: "admin", ContainerPort: proxyAdminPort, Protocol: corev1.ProtocolTCP}},
		Resources:      proxyResources(s),
		LivenessProbe:  httpProbe("/healthz", 10),
		ReadinessProbe: httpProbe("/readyz", 5),
		VolumeMounts:   mounts,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
		},
	}
	for _, u := range ups {
		container.Ports = append(container.Ports, corev1.ContainerPort{
			Name: "up-" + strconv.Itoa(u.index), ContainerPort: u.listenPort, Protocol: corev1.ProtocolTCP,
		})
	}
	return &appsv1.Deployment{
		ObjectMeta: proxyMeta(tenant, name),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(s.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: proxySelector(tenant.Name)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels,
					Annotations: map[string]string{annotationConfigHash: config.hash()},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName:           name,
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{container},
					Volumes:    volumes,
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector: &metav1.LabelSelector{MatchLabels: proxySelector(tenant.Name)},
					}},
				},
			},
		},
	}
}

// proxyResources are the settings' resources, the defaults when they set none.
func proxyResources(s ProxySettings) corev1.ResourceRequirements {
	if len(s.Resources.Requests) == 0 && len(s.Resources.Limits) == 0 {
		return DefaultProxyResources()
	}
	return *s.Resources.DeepCopy()
}

func httpProbe(path string, period int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("admin")}},
		PeriodSeconds: period,
	}
}

// Where the proxy pod finds an upstream's client certificate, under the upstream's directory.
const (
	clientDir            = "client"
	credentialBundleFile = "credential-bundle.pem"
)

// proxyVolumes mounts the configuration and, per upstream, one projected volume holding its CA
// bundles (ca-<i>/ca.crt, from ConfigMaps, Secrets or ClusterTrustBundles) and client
// certificate (client/tls.crt and client/tls.key from a Secret, or client/credential-bundle.pem
// from a pod certificate). Kubernetes updates projected files in place, and the proxy reloads
// them without a restart. What the operator cannot check (a Secret) is optional: a missing
// one leaves its files out, and the proxy reports it, instead of keeping the pod from starting.
func proxyVolumes(configMap string, ups []proxyUpstream) ([]corev1.Volume, []corev1.VolumeMount) {
	volumes := []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: configMap},
		Items:                []corev1.KeyToPath{{Key: proxyConfigKey, Path: proxyConfigKey}},
	}}}}
	mounts := []corev1.VolumeMount{{Name: "config", MountPath: proxyConfigDir, ReadOnly: true}}
	for _, u := range ups {
		t := u.upstream.TLS
		var sources []corev1.VolumeProjection
		for i, ref := range t.Validation.CACertificateRefs {
			sources = append(sources, caProjection(ref, fmt.Sprintf("ca-%d/%s", i, caCertKey)))
		}
		if usesWellKnown(t, v1alpha1.WellKnownCAOpenShiftServiceCA) {
			sources = append(sources, corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: serviceCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: serviceCAKey, Path: "service-ca/" + serviceCAKey}},
			}})
		}
		if ref := t.ClientCertificateRef; ref != nil {
			sources = append(sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name},
				Items: []corev1.KeyToPath{
					{Key: corev1.TLSCertKey, Path: clientDir + "/" + corev1.TLSCertKey},
					{Key: corev1.TLSPrivateKeyKey, Path: clientDir + "/" + corev1.TLSPrivateKeyKey},
				},
				Optional: ptr.To(true),
			}})
		}
		if pc := t.PodCertificate; pc != nil {
			sources = append(sources, corev1.VolumeProjection{PodCertificate: &corev1.PodCertificateProjection{
				SignerName:           string(pc.SignerName),
				KeyType:              string(cmp.Or(pc.KeyType, v1alpha1.PodCertificateKeyTypeECDSAP256)),
				MaxExpirationSeconds: pc.MaxExpirationSeconds,
				CredentialBundlePath: clientDir + "/" + credentialBundleFile,
			}})
		}
		if len(sources) == 0 {
			continue // wellKnownCACertificates and no client certificate: nothing to mount
		}
		vol := "up-" + strconv.Itoa(u.index)
		volumes = append(volumes, corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: sources}}})
		mounts = append(mounts, corev1.VolumeMount{Name: vol, MountPath: proxyUpstreamDir + "/" + u.upstream.Name, ReadOnly: true})
	}
	return volumes, mounts
}

// caProjection projects the CA certificates of a reference to path: the key ca.crt of a
// ConfigMap or (optionally) a Secret, or the trust anchors of a ClusterTrustBundle, by name or
// by signer and labels (every bundle of the signer when the tenant gives no labels). A bundle
// is optional: the operator checks it exists before it serves the upstream, and one deleted
// since leaves an empty file that the proxy reports, rather than a pod that cannot start.
func caProjection(ref v1alpha1.CACertificateReference, path string) corev1.VolumeProjection {
	items := []corev1.KeyToPath{{Key: caCertKey, Path: path}}
	obj := corev1.LocalObjectReference{Name: string(ref.Name)}
	switch refKind(ref) {
	case kindSecret:
		return corev1.VolumeProjection{Secret: &corev1.SecretProjection{LocalObjectReference: obj, Items: items, Optional: ptr.To(true)}}
	case kindClusterTrustBundle:
		ctb := &corev1.ClusterTrustBundleProjection{Path: path, Optional: ptr.To(true)}
		if sel := ref.ClusterTrustBundleSelector; sel != nil {
			ctb.SignerName = ptr.To(string(sel.SignerName))
			ctb.LabelSelector = &metav1.LabelSelector{}
			if sel.LabelSelector != nil {
				ctb.LabelSelector = sel.LabelSelector.DeepCopy()
			}
		} else {
			ctb.Name = ptr.To(string(ref.Name))
		}
		return corev1.VolumeProjection{ClusterTrustBundle: ctb}
	}
	return corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: obj, Items: items}}
}

// usesWellKnown says whether the upstream trusts the well-known bundle wk.
func usesWellKnown(t *v1alpha1.UpstreamTLS, wk gwapiv1.WellKnownCACertificatesType) bool {
	return t.Validation.WellKnownCACertificates != nil && *t.Validation.WellKnownCACertificates == wk
}

// desiredNetworkPolicies are the policies of the served upstreams: gateway to pods for valid
// plain ones, and for the TLS ones the gateway verifies whose BackendTLSPolicy is in place
// (inPlace, by name); gateway to proxy, proxy to pods (ingress of the pods, egress of the
// proxy), proxy to the cluster DNS, and the operator's and the monitoring namespaces to the
// proxy's admin port for the TLS ones the proxy serves.
func desiredNetworkPolicies(tenant *v1alpha1.GatewayTenant, obs *observation, s ProxySettings, operatorNamespace string, inPlace map[string]bool) []*networkingv1.NetworkPolicy {
	peers := gatewayPeers(obs.dataPlane.environments)
	var out []*networkingv1.NetworkPolicy
	for _, u := range obs.upstreams {
		if u.valid() && (u.upstream.TLS == nil || inPlace[u.upstream.Name]) {
			out = append(out, upstreamNetworkPolicy(tenant, u, peers))
		}
	}
	for _, pu := range obs.served {
		out = append(out, upstreamProxyPolicy(tenant, pu))
	}
	if len(obs.served) > 0 {
		admin := []*networkingv1.NetworkPolicyPeer{operatorPeer(operatorNamespace), monitoringPeer(s.Monitoring)}
		out = append(out, proxyPolicy(tenant, obs.served, peers, admin, s.clusterDNS()))
	}
	return out
}

// operatorPeer is the operator's namespace, admitted to the proxy's admin port only, so that
// the operator can read the proxy's state where namespaces deny ingress by default; nil when
// the operator's namespace is not known.
func operatorPeer(operatorNamespace string) *networkingv1.NetworkPolicyPeer {
	if operatorNamespace == "" {
		return nil
	}
	return &networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{labelNamespaceName: operatorNamespace},
	}}
}

// hasTLS says whether any upstream of the spec speaks TLS.
func hasTLS(tenant *v1alpha1.GatewayTenant) bool {
	for _, u := range tenant.Spec.Upstreams {
		if u.TLS != nil {
			return true
		}
	}
	return false
}
