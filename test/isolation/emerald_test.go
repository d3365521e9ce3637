package isolation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

const emeraldNS = "def456-prod"

// TestEmeraldIsolation is the Emerald cluster's case: its gateway namespaces are labelled
// name: cc9a8a, and namespaces deny egress as well as ingress by default. A tenant on the
// emerald data plane, data class medium, with a plain and a TLS upstream, under a default
// deny of all ingress and egress: the gateway reaches exactly the plain upstream's pods and
// the proxy's listener, the proxy exactly the TLS upstream's pods and the cluster DNS, and
// nobody else anything, Silver's gateway and a namespace with copied labels included.
func TestEmeraldIsolation(t *testing.T) {
	createNamespaces(t, map[string]map[string]string{
		"cc9a8a-test":   {"environment": "test", "name": "cc9a8a"},
		"cc9a8a-prod":   {"environment": "prod", "name": "cc9a8a"},
		"cc9a8a-tools":  {"name": "cc9a8a"},
		"evil-emerald":  {"environment": "prod", "name": "cc9a8a"}, // labels copied from the gateway's
		"264e6f-test":   {"environment": "test", "name": "264e6f"},
		emeraldNS:       {"environment": "prod", "name": "def456"},
		"ghi789-prod":   {"environment": "prod", "name": "ghi789"},
		"kube-system":   nil,
		"openshift-dns": nil,
	})
	createDataPlane(t, "emerald", "emerald")
	tenant := setUpTenant(t, emeraldNS, func(t *v1alpha1.GatewayTenant) {
		t.Spec.DataPlane, t.Spec.DataClass, t.Spec.GatewayID = "emerald", "medium", "gw-1a2b3"
	})
	engine := underDefaultDeny(t, tenant)

	proxyLabels := proxyPodLabels(t, tenant)
	if proxyLabels["DataClass"] != "Medium" {
		t.Errorf("the proxy's pods carry DataClass %q, want Medium: Emerald blocks every pod without a valid class", proxyLabels["DataClass"])
	}
	proxy := peer{emeraldNS, proxyLabels}
	plain := peer{emeraldNS, map[string]string{"app": "plain-api", "DataClass": "Medium"}}
	secure := peer{emeraldNS, map[string]string{"app": "tls-api", "DataClass": "Medium"}}
	otherPod := peer{emeraldNS, map[string]string{"app": "batch", "DataClass": "Medium"}}
	gwTest := peer{"cc9a8a-test", map[string]string{"app": "kong"}}
	gwProd := peer{"cc9a8a-prod", map[string]string{"app": "kong"}}
	kubeDNS := peer{"kube-system", map[string]string{"k8s-app": "kube-dns"}}
	other := peer{"ghi789-prod", map[string]string{"app": "tls-api"}}
	proxyPort := proxyListenPort(t, tenant)
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP

	judge(t, engine, []trafficCase{
		// ingress
		{"Emerald's gateway test reaches the plain upstream", gwTest, plain, 8080, tcp, true},
		{"Emerald's gateway prod reaches the plain upstream", gwProd, plain, 8080, tcp, true},
		{"Emerald's gateway test reaches the proxy", gwTest, proxy, proxyPort, tcp, true},
		{"Emerald's gateway prod reaches the proxy", gwProd, proxy, proxyPort, tcp, true},
		{"Emerald's gateway, the proxy's admin port", gwProd, proxy, 9090, tcp, false},
		{"Emerald's gateway, the TLS upstream around the proxy", gwTest, secure, 9443, tcp, false},
		{"Emerald's gateway, another pod of the namespace", gwTest, otherPod, 8080, tcp, false},
		{"Emerald's gateway, another port of the plain upstream", gwTest, plain, 9090, tcp, false},
		{"Silver's gateway, the plain upstream", peer{"264e6f-test", map[string]string{"app": "kong"}}, plain, 8080, tcp, false},
		{"namespace with only name: cc9a8a", peer{"cc9a8a-tools", nil}, plain, 8080, tcp, false},
		{"copied labels, the plain upstream", peer{"evil-emerald", nil}, plain, 8080, tcp, false},
		{"copied labels, the proxy", peer{"evil-emerald", nil}, proxy, proxyPort, tcp, false},
		{"another tenant, the proxy", other, proxy, proxyPort, tcp, false},
		// egress
		{"proxy reaches the TLS upstream", proxy, secure, 9443, tcp, true},
		{"proxy reaches cluster DNS over UDP", proxy, kubeDNS, 53, udp, true},
		{"proxy reaches cluster DNS over TCP", proxy, kubeDNS, 53, tcp, true},
		{"proxy, the plain upstream", proxy, plain, 8080, tcp, false},
		{"proxy, the gateway", proxy, gwTest, 8000, tcp, false},
		{"proxy, another tenant's pods", proxy, other, 9443, tcp, false},
		{"proxy, OpenShift's DNS pods, not the cluster DNS configured here", proxy,
			peer{"openshift-dns", map[string]string{"dns.operator.openshift.io/daemonset-dns": "default"}}, 5353, udp, false},
		{"the plain upstream opens nothing outwards: the gateway's connections need no egress of its", plain, gwTest, 8000, tcp, false},
		{"the TLS upstream opens nothing outwards", secure, proxy, proxyPort, tcp, false},
	})
	judgeOutsideClosed(t, engine, proxy)
	judgeOutsideClosed(t, engine, plain)
}
