package contract

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Bounds enforced by Validate.
const (
	MaxUpstreams       = 64
	MaxCAFiles         = 16
	MaxSubjectAltNames = 16
	MaxVerifyDepth     = 10
	maxPathLength      = 4096
	maxDrainDelay      = 10 * time.Minute
	maxDrainTimeout    = time.Hour
)

// FieldError is one validation failure; Field is the path in the file, for example
// "upstreams[1].tls.verifyDepth".
type FieldError struct {
	Field  string
	Detail string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Detail }

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// Validate checks the whole configuration and returns every problem found, each naming its
// field (errors.Join of *FieldError). Empty fields that have defaults are valid.
func (c *Config) Validate() error {
	v := &validator{}
	if c.APIVersion != APIVersion {
		v.add("apiVersion", "must be %q", APIVersion)
	}
	if c.Kind != Kind {
		v.add("kind", "must be %q", Kind)
	}
	adminPort := -1
	if c.Admin.Address != "" {
		adminPort = v.listenAddress("admin.address", c.Admin.Address)
	}
	v.shutdown(c.Shutdown)
	v.verification(c.Revision, c.Verification)
	switch n := len(c.Upstreams); {
	case n == 0:
		v.add("upstreams", "at least one upstream is required")
	case n > MaxUpstreams:
		v.add("upstreams", "at most %d upstreams, got %d", MaxUpstreams, n)
	}
	names := map[string]int{}
	ports := map[int]string{}
	if adminPort > 0 {
		ports[adminPort] = "admin.address"
	}
	for i := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		u := &c.Upstreams[i]
		if j, dup := names[u.Name]; dup && u.Name != "" {
			v.add(p+".name", "duplicate of upstreams[%d].name %q", j, u.Name)
		}
		names[u.Name] = i
		if port := v.upstream(p, u); port > 0 {
			if other, dup := ports[port]; dup {
				v.add(p+".listen", "port %d is already used by %s", port, other)
			}
			ports[port] = p + ".listen"
		}
	}
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

func (v *validator) shutdown(s Shutdown) {
	if d := s.DrainDelay; d != nil && (d.Duration < 0 || d.Duration > maxDrainDelay) {
		v.add("shutdown.drainDelay", "must be between 0s and %s", maxDrainDelay)
	}
	if d := s.DrainTimeout; d != nil && (d.Duration <= 0 || d.Duration > maxDrainTimeout) {
		v.add("shutdown.drainTimeout", "must be more than 0s and at most %s", maxDrainTimeout)
	}
}

// upstream validates one upstream and returns its listen port (0 when unknown or "any").
func (v *validator) upstream(p string, u *Upstream) int {
	switch {
	case u.Name == "":
		v.add(p+".name", "required")
	case len(u.Name) > 63 || !dnsLabel.MatchString(u.Name):
		v.add(p+".name", "must be a DNS label (lower case letters, digits and '-', at most 63 characters)")
	}
	port := -1
	if u.Listen == "" {
		v.add(p+".listen", "required")
	} else {
		port = v.listenAddress(p+".listen", u.Listen)
	}
	v.upstreamAddress(p+".address", u.Address)
	if u.TLS == nil {
		v.add(p+".tls", "required")
		return port
	}
	v.tls(p+".tls", u.TLS)
	return port
}

// listenAddress checks host:port where host may be empty; it returns the port, -1 if bad.
func (v *validator) listenAddress(field, addr string) int {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(field, "must be host:port or :port, got %q", addr)
		return -1
	}
	if host != "" && net.ParseIP(host) == nil && !isDNSName(host) {
		v.add(field, "host %q is not an IP address or DNS name", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		v.add(field, "port must be a number between 0 and 65535, got %q", portStr)
		return -1
	}
	return port
}

// upstreamAddress checks host:port with a host and a non-zero port.
func (v *validator) upstreamAddress(field, addr string) {
	if addr == "" {
		v.add(field, "required")
		return
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		v.add(field, "must be host:port, got %q", addr)
		return
	}
	if net.ParseIP(host) == nil && !isDNSName(host) {
		v.add(field, "host %q is not an IP address or DNS name", host)
	}
	if port, err := strconv.Atoi(portStr); err != nil || port < 1 || port > 65535 {
		v.add(field, "port must be a number between 1 and 65535, got %q", portStr)
	}
}

func (v *validator) tls(p string, t *UpstreamTLS) {
	if len(t.CAFiles) == 0 && !t.SystemRoots {
		v.add(p+".caFiles", "at least one of caFiles and systemRoots is required")
	}
	if len(t.CAFiles) > MaxCAFiles {
		v.add(p+".caFiles", "at most %d files, got %d", MaxCAFiles, len(t.CAFiles))
	}
	for i, f := range t.CAFiles {
		v.path(fmt.Sprintf("%s.caFiles[%d]", p, i), f)
	}
	if t.ServerName != "" && net.ParseIP(t.ServerName) == nil && !isDNSName(t.ServerName) {
		v.add(p+".serverName", "must be a DNS name or an IP address, got %q", t.ServerName)
	}
	if len(t.SubjectAltNames) > MaxSubjectAltNames {
		v.add(p+".subjectAltNames", "at most %d entries, got %d", MaxSubjectAltNames, len(t.SubjectAltNames))
	}
	for i, san := range t.SubjectAltNames {
		v.subjectAltName(fmt.Sprintf("%s.subjectAltNames[%d]", p, i), san)
	}
	if d := t.VerifyDepth; d != nil && (*d < 0 || *d > MaxVerifyDepth) {
		v.add(p+".verifyDepth", "must be between 0 and %d", MaxVerifyDepth)
	}
	if _, err := TLSVersion(t.MinVersion); err != nil {
		v.add(p+".minVersion", "%v", err)
	}
	if cc := t.ClientCertificate; cc != nil {
		v.clientCertificate(p+".clientCertificate", cc)
	}
}

// clientCertificate checks that exactly one form is given: certFile and keyFile, or
// credentialBundleFile.
func (v *validator) clientCertificate(p string, cc *ClientCertificate) {
	switch {
	case cc.CredentialBundleFile == "":
		v.path(p+".certFile", cc.CertFile)
		v.path(p+".keyFile", cc.KeyFile)
	case cc.CertFile != "" || cc.KeyFile != "":
		v.add(p+".credentialBundleFile", "give either credentialBundleFile or certFile and keyFile, not both")
	default:
		v.path(p+".credentialBundleFile", cc.CredentialBundleFile)
	}
}

func (v *validator) subjectAltName(p string, san SubjectAltName) {
	switch san.Type {
	case SubjectAltNameHostname:
		if san.URI != "" {
			v.add(p+".uri", "must be empty for type Hostname")
		}
		switch {
		case san.Hostname == "":
			v.add(p+".hostname", "required for type Hostname")
		case !isDNSName(san.Hostname):
			v.add(p+".hostname", "must be a DNS name without wildcard, got %q", san.Hostname)
		}
	case SubjectAltNameURI:
		if san.Hostname != "" {
			v.add(p+".hostname", "must be empty for type URI")
		}
		if san.URI == "" {
			v.add(p+".uri", "required for type URI")
		} else if u, err := url.Parse(san.URI); err != nil || u.Scheme == "" || len(san.URI) > 253 {
			v.add(p+".uri", "must be an absolute URI of at most 253 characters, got %q", san.URI)
		}
	default:
		v.add(p+".type", "must be %q or %q, got %q", SubjectAltNameHostname, SubjectAltNameURI, san.Type)
	}
}

func (v *validator) path(field, path string) {
	switch {
	case path == "":
		v.add(field, "required")
	case len(path) > maxPathLength || strings.ContainsRune(path, 0):
		v.add(field, "not a usable file path")
	}
}

// isDNSName accepts a lower- or mixed-case RFC 1123 subdomain of at most 253 characters.
func isDNSName(s string) bool {
	if len(s) > 253 {
		return false
	}
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if !dnsSubdomain.MatchString(s) {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) > 63 {
			return false
		}
	}
	return true
}
