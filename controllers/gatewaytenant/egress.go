package gatewaytenant

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// ClusterDNS is where the cluster's DNS servers run: the pods the proxy asks to resolve its
// upstreams' names. The proxy's egress policy opens them on Port, UDP and TCP.
type ClusterDNS struct {
	// Namespace of the DNS pods.
	Namespace string
	// PodLabels select the DNS pods in Namespace.
	PodLabels map[string]string
	// Port the DNS pods listen on: the Service's target port, since NetworkPolicies see
	// traffic after the Service address is translated.
	Port int32
}

// Known cluster DNS deployments.
var (
	// OpenShiftDNS is OpenShift's DNS operator's daemon set, which listens on 5353.
	OpenShiftDNS = ClusterDNS{Namespace: "openshift-dns", PodLabels: map[string]string{"dns.operator.openshift.io/daemonset-dns": "default"}, Port: 5353}
	// KubeDNS is the kube-dns (or CoreDNS) Deployment of kube-system, on 53.
	KubeDNS = ClusterDNS{Namespace: "kube-system", PodLabels: map[string]string{"k8s-app": "kube-dns"}, Port: 53}
)

// ClusterDNSAuto is the --cluster-dns value that detects the cluster DNS at start (the
// manager does: OpenShiftDNS on OpenShift, KubeDNS elsewhere).
const ClusterDNSAuto = "auto"

// Set parses a --cluster-dns value: "auto" (detect at start), "openshift", "kube-dns", or
// <namespace>/<label>=<value>[,<label>=<value>...]:<port>.
func (d *ClusterDNS) Set(s string) error {
	switch s {
	case ClusterDNSAuto:
		*d = ClusterDNS{}
	case "openshift":
		*d = OpenShiftDNS
	case "kube-dns":
		*d = KubeDNS
	default:
		parsed, err := ParseClusterDNS(s)
		if err != nil {
			return err
		}
		*d = parsed
	}
	return nil
}

// String renders the setting as --cluster-dns takes it: namespace/label=value,...:port, or
// "auto" when unset.
func (d ClusterDNS) String() string {
	if d.Namespace == "" {
		return ClusterDNSAuto
	}
	var labels []string
	for _, k := range slices.Sorted(maps.Keys(d.PodLabels)) {
		labels = append(labels, k+"="+d.PodLabels[k])
	}
	return fmt.Sprintf("%s/%s:%d", d.Namespace, strings.Join(labels, ","), d.Port)
}

// ParseClusterDNS reads namespace/label=value[,label=value...]:port, e.g.
// "kube-system/k8s-app=kube-dns:53".
func ParseClusterDNS(s string) (ClusterDNS, error) {
	const form = "want <namespace>/<label>=<value>[,<label>=<value>...]:<port>, e.g. kube-system/k8s-app=kube-dns:53"
	ns, rest, ok := strings.Cut(s, "/")
	colon := strings.LastIndex(rest, ":")
	if !ok || colon < 0 {
		return ClusterDNS{}, fmt.Errorf("cluster DNS %q: %s", s, form)
	}
	d := ClusterDNS{Namespace: ns, PodLabels: map[string]string{}}
	port, err := strconv.ParseInt(rest[colon+1:], 10, 32)
	if err != nil || port < 1 || port > 65535 {
		return ClusterDNS{}, fmt.Errorf("cluster DNS %q: port %q is not 1-65535; %s", s, rest[colon+1:], form)
	}
	d.Port = int32(port)
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return ClusterDNS{}, fmt.Errorf("cluster DNS %q: namespace %q: %s", s, ns, strings.Join(errs, "; "))
	}
	for _, kv := range strings.Split(rest[:colon], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return ClusterDNS{}, fmt.Errorf("cluster DNS %q: pod label %q is not label=value; %s", s, kv, form)
		}
		if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(errs) > 0 {
			return ClusterDNS{}, fmt.Errorf("cluster DNS %q: pod label %q: %s", s, kv, strings.Join(errs, "; "))
		}
		d.PodLabels[k] = v
	}
	return d, nil
}

// dnsEgressRule lets the selected pods ask the cluster DNS, over UDP and TCP.
func dnsEgressRule(dns ClusterDNS) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelNamespaceName: dns.Namespace}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: maps.Clone(dns.PodLabels)},
		}},
		Ports: []networkingv1.NetworkPolicyPort{protocolPort(corev1.ProtocolUDP, dns.Port), protocolPort(corev1.ProtocolTCP, dns.Port)},
	}
}

// protocolPort is a NetworkPolicy port of a protocol.
func protocolPort(protocol corev1.Protocol, port int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(protocol), Port: ptr.To(intstr.FromInt32(port))}
}

// proxyEgressRules let the tenant's proxy pods reach, for each TLS upstream it serves, that
// upstream's pods on its target ports, and the cluster DNS; nothing else. They are what keeps
// the proxy working in a namespace that denies egress by default. Plain upstreams need no
// egress rule: the gateway's connections are admitted by ingress rules, and replies follow them.
func proxyEgressRules(ups []proxyUpstream, dns ClusterDNS) []networkingv1.NetworkPolicyEgressRule {
	egress := make([]networkingv1.NetworkPolicyEgressRule, 0, len(ups)+1)
	for _, u := range ups {
		egress = append(egress, networkingv1.NetworkPolicyEgressRule{
			To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: maps.Clone(u.podSelector)}}},
			Ports: u.ports,
		})
	}
	return append(egress, dnsEgressRule(dns))
}
