package gatewaytenant

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/fake"
	kubetesting "k8s.io/client-go/testing"
)

func TestParseClusterDNS(t *testing.T) {
	cases := []struct {
		in, want, wantErr string
	}{
		{in: "auto", want: "auto"},
		{in: "openshift", want: "openshift-dns/dns.operator.openshift.io/daemonset-dns=default:5353"},
		{in: "kube-dns", want: "kube-system/k8s-app=kube-dns:53"},
		{in: "dns/app=coredns,tier=node:1053", want: "dns/app=coredns,tier=node:1053"},
		{in: "kube-system/k8s-app=kube-dns", wantErr: "want <namespace>/<label>=<value>"},
		{in: "kube-system/k8s-app=kube-dns:0", wantErr: "port \"0\" is not 1-65535"},
		{in: "Kube_System/k8s-app=kube-dns:53", wantErr: "namespace \"Kube_System\""},
		{in: "kube-system/k8s-app:53", wantErr: "pod label \"k8s-app\" is not label=value"},
		{in: "kube-system/bad key=x:53", wantErr: "pod label \"bad key=x\""},
	}
	for _, c := range cases {
		var d ClusterDNS
		err := d.Set(c.in)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%q: %v", c.in, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%q: want error containing %q, got %v", c.in, c.wantErr, err)
		case c.wantErr == "" && d.String() != c.want:
			t.Errorf("%q: parsed to %q, want %q", c.in, d.String(), c.want)
		}
	}
}

func TestDetectClusterDNS(t *testing.T) {
	plain := &fake.FakeDiscovery{Fake: &kubetesting.Fake{}}
	if dns, _, err := DetectClusterDNS(plain); err != nil || dns.Namespace != KubeDNS.Namespace {
		t.Errorf("plain Kubernetes: got %v, %v; want kube-dns", dns, err)
	}
	openshift := &fake.FakeDiscovery{Fake: &kubetesting.Fake{Resources: []*metav1.APIResourceList{{
		GroupVersion: schema.GroupVersion{Group: "config.openshift.io", Version: "v1"}.String(),
		APIResources: []metav1.APIResource{{Name: "dnses"}},
	}}}}
	if dns, _, err := DetectClusterDNS(openshift); err != nil || dns.Namespace != OpenShiftDNS.Namespace || dns.Port != 5353 {
		t.Errorf("OpenShift: got %v, %v; want openshift-dns on 5353", dns, err)
	}
}
