// Package fuzz fuzzes the proxy's configuration parser. It is a package of its own so that
// the fuzzing build instruments only the proxy and what it imports, not the test helpers of
// the proxy's own tests (make fuzz, part of make test).
package fuzz

import (
	"encoding/json"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy"
)

// exampleYAML is the documented example of docs/proxy.md (also checked by the proxy's tests).
const exampleYAML = `
apiVersion: proxy.gatewaytenant.io/v1alpha1
kind: ProxyConfig
admin:
  address: ":9090"
shutdown:
  drainDelay: 5s
  drainTimeout: 30s
upstreams:
- name: my-upstream-api
  listen: ":8443"
  address: my-upstream-api.abc123-prod.svc:8443
  tls:
    caFiles: [/etc/gatewaytenant/ca/0/ca.crt]
    verifyDepth: 1
    clientCertificate:
      certFile: /etc/gatewaytenant/client/tls.crt
      keyFile: /etc/gatewaytenant/client/tls.key
`

// FuzzParseConfig: the parser never panics, and whatever it accepts validates and
// survives a round trip through JSON.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(exampleYAML))
	f.Add([]byte(`{"apiVersion":"proxy.gatewaytenant.io/v1alpha1","kind":"ProxyConfig","upstreams":[]}`))
	f.Add([]byte("apiVersion: proxy.gatewaytenant.io/v1alpha1\nkind: ProxyConfig\nupstreams:\n- {name: a, listen: ':1', address: 'a:1', tls: {systemRoots: true, verifyDepth: 3}}\n"))
	f.Add([]byte("shutdown: {drainDelay: 1h}\nupstreams: [{tls: {subjectAltNames: [{type: URI, uri: 'x:y'}]}}]"))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte("a: &x {b: *x}"))
	f.Add([]byte("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := proxy.ParseConfig(data)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted a configuration that does not validate: %v", err)
		}
		j, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := proxy.ParseConfig(j); err != nil {
			t.Fatalf("accepted configuration does not round-trip: %v\n%s", err, j)
		}
	})
}
