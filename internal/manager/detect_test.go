package manager

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/fake"
	kubetesting "k8s.io/client-go/testing"

	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
)

func TestDetectClusterDNS(t *testing.T) {
	plain := &fake.FakeDiscovery{Fake: &kubetesting.Fake{}}
	if dns, _, err := detectClusterDNS(plain); err != nil || dns.Namespace != gatewaytenant.KubeDNS.Namespace {
		t.Errorf("plain Kubernetes: got %v, %v; want kube-dns", dns, err)
	}
	openshift := &fake.FakeDiscovery{Fake: &kubetesting.Fake{Resources: []*metav1.APIResourceList{{
		GroupVersion: schema.GroupVersion{Group: "config.openshift.io", Version: "v1"}.String(),
		APIResources: []metav1.APIResource{{Name: "dnses"}},
	}}}}
	if dns, _, err := detectClusterDNS(openshift); err != nil || dns.Namespace != gatewaytenant.OpenShiftDNS.Namespace || dns.Port != 5353 {
		t.Errorf("OpenShift: got %v, %v; want openshift-dns on 5353", dns, err)
	}
}
