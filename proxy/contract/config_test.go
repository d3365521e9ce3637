package contract

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// exampleYAML is the documented example (docs/proxy.md).
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
    systemRoots: false
    serverName: my-upstream-api.abc123-prod.svc
    subjectAltNames:
    - {type: Hostname, hostname: kong.example}
    - {type: URI, uri: spiffe://cluster.local/ns/x/sa/y}
    verifyDepth: 1
    minVersion: "1.2"
    clientCertificate:
      certFile: /etc/gatewaytenant/client/tls.crt
      keyFile: /etc/gatewaytenant/client/tls.key
`

func TestParseConfigExample(t *testing.T) {
	cfg, err := ParseConfig([]byte(exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.Upstreams[0]
	if u.Name != "my-upstream-api" || *u.TLS.VerifyDepth != 1 || len(u.TLS.SubjectAltNames) != 2 ||
		u.TLS.ClientCertificate.KeyFile != "/etc/gatewaytenant/client/tls.key" ||
		cfg.Shutdown.DrainTimeout.Duration != 30*time.Second {
		t.Fatalf("parsed %+v", cfg)
	}
	// The same document as JSON parses to the same value.
	j, err := yaml.YAMLToJSON([]byte(exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := ParseConfig(j)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(cfg)
	b, _ := json.Marshal(fromJSON)
	if string(a) != string(b) {
		t.Fatalf("YAML and JSON differ:\n%s\n%s", a, b)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
apiVersion: proxy.gatewaytenant.io/v1alpha1
kind: ProxyConfig
upstreams:
- name: a
  listen: ":8443"
  address: a.ns.svc:8443
  tls: {caFiles: [/ca.crt]}
`))
	if err != nil {
		t.Fatal(err)
	}
	tl := cfg.Upstreams[0].TLS
	if cfg.Admin.Address != ":9090" || cfg.Shutdown.DrainDelay.Duration != 5*time.Second ||
		cfg.Shutdown.DrainTimeout.Duration != 30*time.Second || tl.ServerName != "a.ns.svc" ||
		tl.MinVersion != "1.2" || tl.VerifyDepth != nil {
		t.Fatalf("defaults not applied: %+v %+v", cfg, tl)
	}
}

// validConfig is the base of the validation table.
func validConfig() *Config {
	cfg := &Config{
		APIVersion: APIVersion,
		Kind:       Kind,
		Admin:      Admin{Address: "127.0.0.1:0"},
		Upstreams: []Upstream{{
			Name:    "echo",
			Address: "up.ns.svc:8443",
			TLS:     &UpstreamTLS{CAFiles: []string{"/ca.crt"}, ServerName: "kong.example"},
		}},
	}
	cfg.Upstreams = append(cfg.Upstreams, Upstream{Name: "second", Listen: ":8444", Address: "10.0.0.1:443",
		TLS: &UpstreamTLS{SystemRoots: true}})
	cfg.Upstreams[0].Listen = ":8443"
	return cfg
}

func TestValidate(t *testing.T) {
	intp := func(n int) *int { return &n }
	cases := []struct {
		desc    string
		mutate  func(c *Config)
		wantErr string // "" valid
	}{
		{"valid", func(*Config) {}, ""},
		{"wrong apiVersion", func(c *Config) { c.APIVersion = "v1" }, "apiVersion: must be"},
		{"wrong kind", func(c *Config) { c.Kind = "Proxy" }, "kind: must be"},
		{"no upstreams", func(c *Config) { c.Upstreams = nil }, "upstreams: at least one"},
		{"too many upstreams", func(c *Config) {
			for i := range MaxUpstreams {
				u := c.Upstreams[1]
				u.Name, u.Listen = "u"+string(rune('a'+i%26))+strings.Repeat("x", i/26), ":0"
				c.Upstreams = append(c.Upstreams, u)
			}
		}, "upstreams: at most 64"},
		{"bad name", func(c *Config) { c.Upstreams[1].Name = "Not_A_Label" }, "upstreams[1].name: must be a DNS label"},
		{"duplicate name", func(c *Config) { c.Upstreams[1].Name = "echo" }, "upstreams[1].name: duplicate of upstreams[0].name"},
		{"duplicate port", func(c *Config) { c.Upstreams[1].Listen = "127.0.0.1:8443" }, "upstreams[1].listen: port 8443 is already used"},
		{"port clashes with admin", func(c *Config) { c.Admin.Address = ":8444" }, "upstreams[1].listen: port 8444 is already used by admin.address"},
		{"port 0 may repeat", func(c *Config) { c.Upstreams[0].Listen, c.Upstreams[1].Listen = ":0", ":0" }, ""},
		{"listen without port", func(c *Config) { c.Upstreams[0].Listen = "8443" }, "upstreams[0].listen: must be host:port"},
		{"listen port out of range", func(c *Config) { c.Upstreams[0].Listen = ":70000" }, "upstreams[0].listen: port must be"},
		{"bad admin address", func(c *Config) { c.Admin.Address = "nope" }, "admin.address: must be host:port"},
		{"address required", func(c *Config) { c.Upstreams[0].Address = "" }, "upstreams[0].address: required"},
		{"address without host", func(c *Config) { c.Upstreams[0].Address = ":443" }, "upstreams[0].address: must be host:port"},
		{"address port 0", func(c *Config) { c.Upstreams[0].Address = "a.svc:0" }, "upstreams[0].address: port must be"},
		{"address bad host", func(c *Config) { c.Upstreams[0].Address = "a_b.svc:443" }, "upstreams[0].address: host"},
		{"tls required", func(c *Config) { c.Upstreams[1].TLS = nil }, "upstreams[1].tls: required"},
		{"no trust", func(c *Config) { c.Upstreams[1].TLS.SystemRoots = false }, "upstreams[1].tls.caFiles: at least one of caFiles and systemRoots"},
		{"empty CA path", func(c *Config) { c.Upstreams[0].TLS.CAFiles = []string{"/a", ""} }, "upstreams[0].tls.caFiles[1]: required"},
		{"too many CA files", func(c *Config) { c.Upstreams[0].TLS.CAFiles = make([]string, MaxCAFiles+1) }, "upstreams[0].tls.caFiles: at most 16"},
		{"bad serverName", func(c *Config) { c.Upstreams[0].TLS.ServerName = "*.example" }, "upstreams[0].tls.serverName: must be a DNS name"},
		{"IP serverName", func(c *Config) { c.Upstreams[0].TLS.ServerName = "10.1.2.3" }, ""},
		{"verifyDepth negative", func(c *Config) { c.Upstreams[1].TLS.VerifyDepth = intp(-1) }, "upstreams[1].tls.verifyDepth: must be between 0 and 10"},
		{"verifyDepth too big", func(c *Config) { c.Upstreams[1].TLS.VerifyDepth = intp(11) }, "upstreams[1].tls.verifyDepth: must be between 0 and 10"},
		{"verifyDepth 0", func(c *Config) { c.Upstreams[1].TLS.VerifyDepth = intp(0) }, ""},
		{"minVersion 1.1", func(c *Config) { c.Upstreams[0].TLS.MinVersion = "1.1" }, `upstreams[0].tls.minVersion: must be "1.2" or "1.3"`},
		{"minVersion 1.3", func(c *Config) { c.Upstreams[0].TLS.MinVersion = "1.3" }, ""},
		{"SAN type", func(c *Config) {
			c.Upstreams[0].TLS.SubjectAltNames = []SubjectAltName{{Type: "DNS", Hostname: "a"}}
		}, "upstreams[0].tls.subjectAltNames[0].type: must be"},
		{"SAN hostname missing", func(c *Config) {
			c.Upstreams[0].TLS.SubjectAltNames = []SubjectAltName{{Type: SubjectAltNameHostname}}
		}, "upstreams[0].tls.subjectAltNames[0].hostname: required"},
		{"SAN hostname wildcard", func(c *Config) {
			c.Upstreams[0].TLS.SubjectAltNames = []SubjectAltName{{Type: SubjectAltNameHostname, Hostname: "*.a"}}
		}, "upstreams[0].tls.subjectAltNames[0].hostname: must be a DNS name"},
		{"SAN URI relative", func(c *Config) {
			c.Upstreams[0].TLS.SubjectAltNames = []SubjectAltName{{Type: SubjectAltNameURI, URI: "/x"}}
		}, "upstreams[0].tls.subjectAltNames[0].uri: must be an absolute URI"},
		{"SAN both fields", func(c *Config) {
			c.Upstreams[0].TLS.SubjectAltNames = []SubjectAltName{{Type: SubjectAltNameURI, URI: "spiffe://a/b", Hostname: "a"}}
		}, "upstreams[0].tls.subjectAltNames[0].hostname: must be empty for type URI"},
		{"client key missing", func(c *Config) {
			c.Upstreams[0].TLS.ClientCertificate = &ClientCertificate{CertFile: "/tls.crt"}
		}, "upstreams[0].tls.clientCertificate.keyFile: required"},
		{"credential bundle", func(c *Config) {
			c.Upstreams[0].TLS.ClientCertificate = &ClientCertificate{CredentialBundleFile: "/pod/credential-bundle.pem"}
		}, ""},
		{"credential bundle and key pair", func(c *Config) {
			c.Upstreams[0].TLS.ClientCertificate = &ClientCertificate{CredentialBundleFile: "/b.pem", CertFile: "/tls.crt", KeyFile: "/tls.key"}
		}, "upstreams[0].tls.clientCertificate.credentialBundleFile: give either credentialBundleFile or certFile and keyFile, not both"},
		{"negative expiryWarning", func(c *Config) { c.Verification.ExpiryWarning = &Duration{-time.Second} }, "verification.expiryWarning: must be between 0s and 8760h0m0s"},
		{"expiryWarning of a week", func(c *Config) { c.Verification.ExpiryWarning = &Duration{7 * 24 * time.Hour} }, ""},
		{"negative drainDelay", func(c *Config) { c.Shutdown.DrainDelay = &Duration{-time.Second} }, "shutdown.drainDelay: must be between"},
		{"zero drainTimeout", func(c *Config) { c.Shutdown.DrainTimeout = &Duration{0} }, "shutdown.drainTimeout: must be more than 0s"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	c := validConfig()
	c.Kind = ""
	c.Upstreams[0].Name = ""
	c.Upstreams[1].TLS.MinVersion = "2"
	err := c.Validate()
	for _, want := range []string{"kind:", "upstreams[0].name: required", "upstreams[1].tls.minVersion:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestParseConfigStrict(t *testing.T) {
	base := "apiVersion: proxy.gatewaytenant.io/v1alpha1\nkind: ProxyConfig\n"
	up := "upstreams:\n- name: a\n  listen: ':1'\n  address: a:1\n  tls:\n    caFiles: [/ca]\n"
	cases := []struct{ desc, doc, wantErr string }{
		{"empty", "", "configuration is empty"},
		{"not a mapping", "- a\n- b\n", "must be a mapping"},
		{"unknown top-level field", base + "extra: 1\n" + up, "extra: unknown field"},
		{"no skip-verify option", base + up + "    insecureSkipVerify: true\n", "upstreams[0].tls.insecureSkipVerify: unknown field"},
		{"unknown SAN field", base + up + "    subjectAltNames: [{type: URI, uri: 'a:b', dns: x}]\n", "upstreams[0].tls.subjectAltNames[0].dns: unknown field"},
		{"duplicate key", base + "kind: ProxyConfig\n" + up, "not valid YAML"},
		{"wrong type", base + up + "    verifyDepth: deep\n", "upstreams[0].tls.verifyDepth: must be an integer"},
		{"bad duration", base + "shutdown: {drainDelay: 5}\n" + up, "shutdown.drainDelay: must be a duration"},
		{"bad duration unit", base + "shutdown: {drainDelay: 5 parsecs}\n" + up, "shutdown.drainDelay: must be a duration"},
		{"validation runs", base + strings.Replace(up, "a:1", "a", 1), "upstreams[0].address: must be host:port"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(path, []byte(exampleYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path + ".missing"); err == nil {
		t.Fatal("LoadConfig of a missing file succeeded")
	}
}

// TestParseConfigReportsEveryError: type errors, unknown fields and validation errors of one
// file come back together, each with its full path (list indexes included).
func TestParseConfigReportsEveryError(t *testing.T) {
	doc := `apiVersion: proxy.gatewaytenant.io/v1alpha1
kind: ProxyConfig
shutdown: {drainDelay: 5, drainTimeout: soon}
extra: true
upstreams:
- {name: a, listen: ":1", address: "a:1", tls: {caFiles: [/ca]}}
- {name: b, listen: 8443, address: "b:1", tls: {caFiles: [/ca]}}
- {name: C, listen: ":3", address: "c:1", tls: {caFiles: [/ca], verifyDepth: 99999999999999999999}}
- {name: d, listen: ":4", address: "d:1", tls: {caFiles: /ca, verifyDepth: 1.5, systemRoots: "yes"}}
`
	_, err := ParseConfig([]byte(doc))
	if err == nil {
		t.Fatal("ParseConfig accepted a file with errors")
	}
	for _, want := range []string{
		`shutdown.drainDelay: must be a duration such as "5s" or "1m30s", got 5`,
		`shutdown.drainTimeout: must be a duration such as "5s" or "1m30s", got "soon"`,
		"extra: unknown field",
		"upstreams[1].listen: must be a string",
		"upstreams[2].name: must be a DNS label",
		"upstreams[2].tls.verifyDepth: must be between 0 and 10",
		"upstreams[3].tls.caFiles: must be a list",
		"upstreams[3].tls.verifyDepth: must be an integer, got 1.5",
		"upstreams[3].tls.systemRoots: must be true or false",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// A field with a type error is reported once, not again as "required".
	if strings.Contains(err.Error(), "upstreams[1].listen: required") {
		t.Errorf("the type error is reported twice:\n%v", err)
	}
}
