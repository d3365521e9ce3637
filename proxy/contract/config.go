package contract

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// APIVersion and Kind identify the configuration file format. Both are required, exactly.
const (
	APIVersion = "proxy.gatewaytenant.io/v1alpha1"
	Kind       = "ProxyConfig"
)

// DefaultAdminAddress is the admin listener's address when a configuration names none.
var DefaultAdminAddress = ":" + strconv.Itoa(AdminPort)

// Defaults applied to fields left empty.
const (
	DefaultDrainDelay   = 5 * time.Second
	DefaultDrainTimeout = 30 * time.Second
	DefaultMinVersion   = "1.2"
)

// Config is the proxy configuration file. The operator renders it; a person can write it by
// hand. See docs/proxy.md for every field.
type Config struct {
	// apiVersion must be "proxy.gatewaytenant.io/v1alpha1".
	APIVersion string `json:"apiVersion"`
	// kind must be "ProxyConfig".
	Kind string `json:"kind"`
	// admin is the listener for /healthz, /readyz and /metrics.
	// +optional
	Admin Admin `json:"admin,omitempty"`
	// shutdown controls the drain on SIGTERM.
	// +optional
	Shutdown Shutdown `json:"shutdown,omitempty"`
	// accessLog turns on one structured log line per request (upstream, method, path
	// without query, status, reason, request ID, bytes, duration); default off.
	// +optional
	AccessLog bool `json:"accessLog,omitempty"`
	// revision labels this configuration; the proxy repeats it in its state report (see
	// check.go) so that a reader can tell which configuration a report is about.
	// +optional
	Revision string `json:"revision,omitempty"`
	// verification controls the active checks of the upstreams (see check.go).
	// +optional
	Verification Verification `json:"verification,omitempty"`
	// upstreams are the plain-HTTP listeners and the TLS upstream each forwards to; 1 to 64,
	// names unique.
	// +required
	Upstreams []Upstream `json:"upstreams"`
}

// Admin configures the admin listener.
type Admin struct {
	// address is host:port of the admin listener; default ":9090".
	// +optional
	Address string `json:"address,omitempty"`
}

// Shutdown configures the graceful drain.
type Shutdown struct {
	// drainDelay is how long the proxy keeps accepting after readiness turned false, so that
	// callers stop sending first; default 5s.
	// +optional
	DrainDelay *Duration `json:"drainDelay,omitempty"`
	// drainTimeout is how long in-flight requests get to finish; default 30s.
	// +optional
	DrainTimeout *Duration `json:"drainTimeout,omitempty"`
}

// Upstream is one plain-HTTP listener forwarding to one TLS upstream.
type Upstream struct {
	// name is a DNS label, unique in the file; it labels metrics and logs.
	// +required
	Name string `json:"name"`
	// listen is the host:port of the plain-HTTP listener; ports unique in the file.
	// +required
	Listen string `json:"listen"`
	// address is the upstream host:port.
	// +required
	Address string `json:"address"`
	// tls is how the upstream is verified and how the proxy authenticates to it.
	// +required
	TLS *UpstreamTLS `json:"tls"`
}

// UpstreamTLS is the verification policy for one upstream. There is no way to skip
// verification.
type UpstreamTLS struct {
	// caFiles are PEM bundles of trusted CA certificates, merged.
	// +optional
	CAFiles []string `json:"caFiles,omitempty"`
	// systemRoots adds the system trust store. At least one of caFiles and systemRoots.
	// +optional
	SystemRoots bool `json:"systemRoots,omitempty"`
	// serverName is sent as SNI and is the hostname verified when subjectAltNames is empty;
	// default: the host of address.
	// +optional
	ServerName string `json:"serverName,omitempty"`
	// subjectAltNames, when set, replace the hostname check: the certificate passes if it
	// matches any one of them (Gateway API BackendTLSPolicy semantics).
	// +optional
	SubjectAltNames []SubjectAltName `json:"subjectAltNames,omitempty"`
	// verifyDepth is the most intermediates allowed between the leaf and a trusted CA
	// (OpenSSL/Kong meaning: 0 = the leaf is signed directly by a trusted CA); unset = no limit.
	// +optional
	VerifyDepth *int `json:"verifyDepth,omitempty"`
	// minVersion is the lowest TLS version accepted: "1.2" (default) or "1.3".
	// +optional
	MinVersion string `json:"minVersion,omitempty"`
	// clientCertificate is presented to the upstream for mutual TLS.
	// +optional
	ClientCertificate *ClientCertificate `json:"clientCertificate,omitempty"`
}

// SubjectAltNameType is the kind of a subject alternative name to match.
type SubjectAltNameType string

// Subject alternative name types.
const (
	SubjectAltNameHostname SubjectAltNameType = "Hostname"
	SubjectAltNameURI      SubjectAltNameType = "URI"
)

// SubjectAltName is one acceptable identity of the upstream.
type SubjectAltName struct {
	// type is "Hostname" or "URI".
	// +required
	Type SubjectAltNameType `json:"type"`
	// hostname matches a DNS SAN of the certificate; set only for type Hostname.
	// +optional
	Hostname string `json:"hostname,omitempty"`
	// uri matches a URI SAN exactly, for example a SPIFFE ID; set only for type URI.
	// +optional
	URI string `json:"uri,omitempty"`
}

// ClientCertificate is a PEM certificate (chain) and its private key: in two files (certFile
// and keyFile, as a kubernetes.io/tls Secret holds them), or in one credential bundle (as the
// kubelet writes a pod certificate).
type ClientCertificate struct {
	// certFile is the PEM certificate, optionally followed by intermediates; with keyFile.
	// +optional
	CertFile string `json:"certFile,omitempty"`
	// keyFile is the PEM private key; with certFile.
	// +optional
	KeyFile string `json:"keyFile,omitempty"`
	// credentialBundleFile is one PEM file whose first block is the PKCS#8 PRIVATE KEY and
	// the rest the certificate chain, leaf first: the kubelet's credential bundle of a
	// projected pod certificate (credentialBundlePath). Instead of certFile and keyFile.
	// +optional
	CredentialBundleFile string `json:"credentialBundleFile,omitempty"`
}

// Bundle says whether the client certificate is a credential bundle.
func (c *ClientCertificate) Bundle() bool { return c.CredentialBundleFile != "" }

// Files are the files the client certificate is read from.
func (c *ClientCertificate) Files() []string {
	if c.Bundle() {
		return []string{c.CredentialBundleFile}
	}
	return []string{c.CertFile, c.KeyFile}
}

// Duration is a time.Duration written as a Go duration string, for example "5s" or "1m30s".
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be a duration string such as \"5s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("must be a duration string such as \"5s\": %v", err)
	}
	d.Duration = v
	return nil
}

// LoadConfig reads, parses and validates a configuration file (see ParseConfig).
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data)
}

// ParseConfig parses YAML or JSON strictly (unknown and duplicate fields are errors),
// validates the result and returns it with defaults applied. Every problem is reported at
// once (errors.Join of *FieldError), each naming its full path.
func ParseConfig(data []byte) (*Config, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("configuration is empty")
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if _, ok := raw.(map[string]any); !ok {
		return nil, errors.New("configuration must be a mapping")
	}
	cfg := &Config{}
	d := &decoder{bad: map[string]bool{}}
	d.decode(raw, reflect.ValueOf(cfg).Elem(), "")
	errs := d.errs
	if err := cfg.Validate(); err != nil {
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			if !d.reported(e) {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg.ApplyDefaults()
	return cfg, nil
}

// ApplyDefaults fills the fields that have defaults. It does not touch invalid values.
func (c *Config) ApplyDefaults() {
	if c.Admin.Address == "" {
		c.Admin.Address = DefaultAdminAddress
	}
	if c.Shutdown.DrainDelay == nil {
		c.Shutdown.DrainDelay = &Duration{DefaultDrainDelay}
	}
	if c.Shutdown.DrainTimeout == nil {
		c.Shutdown.DrainTimeout = &Duration{DefaultDrainTimeout}
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		if u.TLS == nil {
			continue
		}
		if u.TLS.ServerName == "" {
			if host, _, err := net.SplitHostPort(u.Address); err == nil {
				u.TLS.ServerName = host
			}
		}
		if u.TLS.MinVersion == "" {
			u.TLS.MinVersion = DefaultMinVersion
		}
	}
}

// Clone is a deep copy, so that defaults can be applied without touching the caller's value.
func (c *Config) Clone() *Config {
	j, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("contract: config does not marshal: %v", err)) // plain data: cannot happen
	}
	out := &Config{}
	if err := json.Unmarshal(j, out); err != nil {
		panic(fmt.Sprintf("contract: config does not round-trip: %v", err))
	}
	return out
}

// DefaultCheckInterval is the period of the active check of an idle, verified upstream.
const DefaultCheckInterval = 30 * time.Second

// DefaultExpiryWarning is how long before a loaded certificate expires that the state report
// says MaterialExpiringSoon, unless verification.expiryWarning says otherwise: the operator's
// default (--certificate-expiry-warning).
const DefaultExpiryWarning = 30 * 24 * time.Hour

// Bounds of verification.interval and verification.expiryWarning.
const (
	minCheckInterval = 100 * time.Millisecond
	maxCheckInterval = time.Hour
	maxExpiryWarning = 365 * 24 * time.Hour
)

// Verification configures the active checks.
type Verification struct {
	// interval is the period of the check while the upstream is idle and verified (with
	// ±10% jitter); failures are checked again sooner, then less often. Default 30s,
	// 100ms to 1h.
	// +optional
	Interval *Duration `json:"interval,omitempty"`
	// expiryWarning is how long before a loaded certificate expires that the state report
	// says so (expiring_soon); default 720h (30 days), at most 8760h. A pod certificate is
	// also reported when less than a quarter of its lifetime is left.
	// +optional
	ExpiryWarning *Duration `json:"expiryWarning,omitempty"`
}

// ExpiryWarningOrDefault is the expiry warning window, DefaultExpiryWarning when unset.
func (v Verification) ExpiryWarningOrDefault() time.Duration {
	if v.ExpiryWarning == nil {
		return DefaultExpiryWarning
	}
	return v.ExpiryWarning.Duration
}

// IntervalOrDefault is the check period, DefaultCheckInterval when unset.
func (v Verification) IntervalOrDefault() time.Duration {
	if v.Interval == nil {
		return DefaultCheckInterval
	}
	return v.Interval.Duration
}

func (v *validator) verification(revision string, c Verification) {
	if len(revision) > 128 || strings.ContainsFunc(revision, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		v.add("revision", "at most 128 printable characters")
	}
	if d := c.Interval; d != nil && (d.Duration < minCheckInterval || d.Duration > maxCheckInterval) {
		v.add("verification.interval", "must be between %s and %s", minCheckInterval, maxCheckInterval)
	}
	if d := c.ExpiryWarning; d != nil && (d.Duration < 0 || d.Duration > maxExpiryWarning) {
		v.add("verification.expiryWarning", "must be between 0s and %s", maxExpiryWarning)
	}
}

// TLSVersion maps minVersion to a crypto/tls constant; "" is the default.
func TLSVersion(s string) (uint16, error) {
	switch s {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("must be \"1.2\" or \"1.3\", got %q", s)
}
