package proxyrun

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// podMounts plays kubelet.Pod.HostPath for a pod whose volumes are mounted under
// /etc/gatewaytenant and laid out under /tmp/pod.
func podMounts(inPod string) (string, bool) {
	if strings.HasPrefix(inPod, "/etc/gatewaytenant/") {
		return "/tmp/pod" + inPod, true
	}
	return "", false
}

func TestLocalise(t *testing.T) {
	cfg, err := contract.ParseConfig([]byte(`
apiVersion: proxy.gatewaytenant.io/v1alpha1
kind: ProxyConfig
admin: {address: ":9090"}
upstreams:
- name: api
  listen: ":8000"
  address: api.ns.svc:8443
  tls:
    caFiles: [/etc/gatewaytenant/upstreams/api/ca-0/ca.crt, /srv/other.crt]
    verifyDepth: 1
    clientCertificate:
      certFile: /etc/gatewaytenant/upstreams/api/client/tls.crt
      keyFile: /etc/gatewaytenant/upstreams/api/client/tls.key
- name: pod
  listen: ":8002"
  address: pod.ns.svc:443
  tls:
    caFiles: [/etc/gatewaytenant/upstreams/pod/ca-0/ca.crt]
    clientCertificate: {credentialBundleFile: /etc/gatewaytenant/upstreams/pod/client/credential-bundle.pem}
- name: sans
  listen: ":8001"
  address: sans.ns.svc:443
  tls:
    systemRoots: true
    serverName: sni.example
    subjectAltNames: [{type: URI, uri: "spiffe://cluster.local/ns/ns/sa/sans"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	changes := Localise(cfg, podMounts, "127.0.0.1:4443")

	if cfg.Admin.Address != "127.0.0.1:0" || cfg.Shutdown.DrainDelay.Duration != 0 {
		t.Errorf("admin %q, drainDelay %v: want 127.0.0.1:0 and 0s", cfg.Admin.Address, cfg.Shutdown.DrainDelay)
	}
	api, pod, sans := cfg.Upstreams[0], cfg.Upstreams[1], cfg.Upstreams[2]
	for _, u := range cfg.Upstreams {
		if u.Listen != "127.0.0.1:0" || u.Address != "127.0.0.1:4443" {
			t.Errorf("upstream %s: listen %q address %q", u.Name, u.Listen, u.Address)
		}
	}
	wantCA := []string{"/tmp/pod/etc/gatewaytenant/upstreams/api/ca-0/ca.crt", "/srv/other.crt"}
	if !reflect.DeepEqual(api.TLS.CAFiles, wantCA) {
		t.Errorf("caFiles %v, want %v (only files of the mounts move)", api.TLS.CAFiles, wantCA)
	}
	if cc := api.TLS.ClientCertificate; cc.CertFile != "/tmp/pod/etc/gatewaytenant/upstreams/api/client/tls.crt" ||
		cc.KeyFile != "/tmp/pod/etc/gatewaytenant/upstreams/api/client/tls.key" {
		t.Errorf("client certificate %+v not moved under the pod directory", cc)
	}
	if got := pod.TLS.ClientCertificate.CredentialBundleFile; got != "/tmp/pod/etc/gatewaytenant/upstreams/pod/client/credential-bundle.pem" {
		t.Errorf("credential bundle %q not moved under the pod directory", got)
	}
	// What is verified stays as rendered: the name defaulted from the rendered address, not
	// the loopback one, and everything else untouched.
	if api.TLS.ServerName != "api.ns.svc" || *api.TLS.VerifyDepth != 1 {
		t.Errorf("api: serverName %q verifyDepth %d, want api.ns.svc and 1", api.TLS.ServerName, *api.TLS.VerifyDepth)
	}
	if sans.TLS.ServerName != "sni.example" || !sans.TLS.SystemRoots || sans.TLS.SubjectAltNames[0].URI != "spiffe://cluster.local/ns/ns/sa/sans" {
		t.Errorf("sans: TLS changed: %+v", sans.TLS)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the adapted configuration is invalid: %v", err)
	}
	if want := 13; len(changes) != want {
		t.Errorf("%d changes reported, want %d:\n%s", len(changes), want, strings.Join(changes, "\n"))
	}
}
