package gatewaytenant

// The proxy's configuration file, rendered once per reconcile from the upstreams it serves,
// with its revision: the proxy repeats the revision in its state report, so that reports of
// replicas still running an older configuration (during a rollout) are not taken for the
// current one.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// proxyConfig is the rendered configuration file and its revision.
type proxyConfig struct {
	data     []byte
	revision string
}

// renderProxyConfig renders the configuration of a proxy serving ups, whose state report warns
// of certificates expiring within expiryWarning.
func renderProxyConfig(ups []proxyUpstream, expiryWarning time.Duration) (proxyConfig, error) {
	cfg, err := proxyConfigObject(ups, expiryWarning)
	if err != nil {
		return proxyConfig{}, err
	}
	cfg.Revision = configRevision(cfg)
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return proxyConfig{}, fmt.Errorf("marshalling proxy configuration: %w", err)
	}
	return proxyConfig{data: data, revision: cfg.Revision}, nil
}

// hash is a digest of the whole file, which rolls the proxy pods when it changes.
func (c proxyConfig) hash() string {
	sum := sha256.Sum256(c.data)
	return hex.EncodeToString(sum[:8])
}

// configRevision is a digest of the configuration without its revision.
func configRevision(cfg contract.Config) string {
	cfg.Revision = ""
	data, err := yaml.Marshal(cfg)
	if err != nil {
		panic(fmt.Sprintf("marshalling proxy configuration: %v", err)) // plain data: cannot fail
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// proxyConfigObject is the proxy's configuration without its revision. The expiry warning is
// written only when it is not the proxy's default (the manager's default too), so that
// existing configurations, and the proxies they run, stay as they are.
func proxyConfigObject(ups []proxyUpstream, expiryWarning time.Duration) (contract.Config, error) {
	cfg := contract.Config{
		APIVersion: contract.APIVersion,
		Kind:       contract.Kind,
		Admin:      contract.Admin{Address: ":" + strconv.Itoa(proxyAdminPort)},
	}
	if expiryWarning > 0 && expiryWarning != contract.DefaultExpiryWarning {
		cfg.Verification.ExpiryWarning = &contract.Duration{Duration: expiryWarning}
	}
	for _, u := range ups {
		t := u.upstream.TLS
		ut := &contract.UpstreamTLS{
			ServerName:  u.upstream.Host,
			MinVersion:  string(t.MinVersion),
			SystemRoots: usesWellKnown(t, gwapiv1.WellKnownCACertificatesSystem),
		}
		if usesWellKnown(t, v1alpha1.WellKnownCAOpenShiftServiceCA) {
			ut.CAFiles = append(ut.CAFiles, fmt.Sprintf("%s/%s/service-ca/%s", proxyUpstreamDir, u.upstream.Name, serviceCAKey))
		}
		if t.Validation.Hostname != nil {
			ut.ServerName = string(*t.Validation.Hostname)
		}
		for i := range t.Validation.CACertificateRefs {
			ut.CAFiles = append(ut.CAFiles, fmt.Sprintf("%s/%s/ca-%d/%s", proxyUpstreamDir, u.upstream.Name, i, caCertKey))
		}
		for _, san := range t.Validation.SubjectAltNames {
			ut.SubjectAltNames = append(ut.SubjectAltNames, contract.SubjectAltName{
				Type: contract.SubjectAltNameType(san.Type), Hostname: string(san.Hostname), URI: string(san.URI),
			})
		}
		if t.VerifyDepth != nil {
			ut.VerifyDepth = ptr.To(int(*t.VerifyDepth))
		}
		dir := proxyUpstreamDir + "/" + u.upstream.Name + "/" + clientDir + "/"
		switch {
		case t.ClientCertificateRef != nil:
			ut.ClientCertificate = &contract.ClientCertificate{CertFile: dir + corev1.TLSCertKey, KeyFile: dir + corev1.TLSPrivateKeyKey}
		case t.PodCertificate != nil:
			ut.ClientCertificate = &contract.ClientCertificate{CredentialBundleFile: dir + credentialBundleFile}
		}
		cfg.Upstreams = append(cfg.Upstreams, contract.Upstream{
			Name:    u.upstream.Name,
			Listen:  ":" + strconv.Itoa(int(u.listenPort)),
			Address: net.JoinHostPort(u.upstream.Host, strconv.Itoa(int(u.upstream.Port))),
			TLS:     ut,
		})
	}
	if err := cfg.Validate(); err != nil {
		return contract.Config{}, fmt.Errorf("rendered proxy configuration is invalid: %w", err)
	}
	return cfg, nil
}
