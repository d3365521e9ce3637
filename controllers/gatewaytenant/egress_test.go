package gatewaytenant

import (
	"strings"
	"testing"
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
