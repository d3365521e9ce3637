// Package fuzz fuzzes the proxy's configuration parser and the fast path's head reader (the
// engines are fuzzed against each other in the proxy package, FuzzEngines, which needs its
// test helpers). It is a package of its own so that the fuzzing build instruments only the
// code under test, not the test helpers of the proxy's own tests (make fuzz, part of make
// test).
package fuzz

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// docExample is the configuration example of docs/proxy.md (its first yaml block).
func docExample(f *testing.F) []byte {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "proxy.md"))
	if err != nil {
		f.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(doc), "```yaml\n")
	example, _, _ := strings.Cut(rest, "```")
	return []byte(example)
}

// FuzzParseConfig: the parser never panics, and whatever it accepts validates and
// survives a round trip through JSON.
func FuzzParseConfig(f *testing.F) {
	f.Add(docExample(f))
	f.Add([]byte(`{"apiVersion":"proxy.gatewaytenant.io/v1alpha1","kind":"ProxyConfig","upstreams":[]}`))
	f.Add([]byte("apiVersion: proxy.gatewaytenant.io/v1alpha1\nkind: ProxyConfig\nupstreams:\n- {name: a, listen: ':1', address: 'a:1', tls: {systemRoots: true, verifyDepth: 3}}\n"))
	f.Add([]byte("shutdown: {drainDelay: 1h}\nupstreams: [{tls: {subjectAltNames: [{type: URI, uri: 'x:y'}]}}]"))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte("a: &x {b: *x}"))
	f.Add([]byte("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := contract.ParseConfig(data)
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
		if _, err := contract.ParseConfig(j); err != nil {
			t.Fatalf("accepted configuration does not round-trip: %v\n%s", err, j)
		}
	})
}
