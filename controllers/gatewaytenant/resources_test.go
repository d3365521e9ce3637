package gatewaytenant

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

func tlsResult(name string, port int32, tweaks ...func(*v1alpha1.UpstreamTLS)) upstreamResult {
	t := &v1alpha1.UpstreamTLS{Validation: v1alpha1.UpstreamTLSValidation{
		CACertificateRefs: []v1alpha1.CACertificateReference{{Name: "ca"}},
	}}
	for _, tweak := range tweaks {
		tweak(t)
	}
	return upstreamResult{
		upstream: v1alpha1.Upstream{Name: name, Host: name + ".ns.svc", Port: port, TLS: t},
		reason:   v1alpha1.ReasonReady,
	}
}

func tenantWith(results ...upstreamResult) *v1alpha1.GatewayTenant {
	t := &v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Name: "my-api", Namespace: "ns"}}
	for _, r := range results {
		t.Spec.Upstreams = append(t.Spec.Upstreams, r.upstream)
	}
	return t
}

func TestProxyUpstreamsAssignPorts(t *testing.T) {
	plain := upstreamResult{upstream: v1alpha1.Upstream{Name: "plain", Host: "plain.ns.svc", Port: 80}, reason: v1alpha1.ReasonReady}
	a, b, c := tlsResult("a", 8443), tlsResult("b", 8443), tlsResult("c", proxyAdminPort)
	broken := tlsResult("broken", 9443)
	broken.reason = v1alpha1.ReasonInvalidCACertificateRef
	results := []upstreamResult{plain, a, broken, b, c}

	got := proxyUpstreams(tenantWith(results...), results)
	type ports struct {
		name                string
		listen, servicePort int32
	}
	var have []ports
	for _, pu := range got {
		have = append(have, ports{pu.upstream.Name, pu.listenPort, pu.servicePort})
	}
	want := []ports{
		{"a", 8001, 8443}, // the upstream's own port: the gateway keeps the port it knows
		{"b", 8003, 8003}, // a second TLS upstream on 8443 takes its listen port instead
		{"c", 8004, 8004}, // the admin port is never a Service port
	}
	if len(have) != len(want) {
		t.Fatalf("got %v, want %v (plain and invalid upstreams are not served)", have, want)
	}
	for i := range want {
		if have[i] != want[i] {
			t.Errorf("upstream %d: got %+v, want %+v", i, have[i], want[i])
		}
	}
}

func TestProxyConfigRendersWhatTheProxyLoads(t *testing.T) {
	full := tlsResult("api", 8443, func(t *v1alpha1.UpstreamTLS) {
		t.Validation.CACertificateRefs = append(t.Validation.CACertificateRefs, v1alpha1.CACertificateReference{Kind: "Secret", Name: "ca2"})
		t.Validation.Hostname = ptr.To(gwapiv1.PreciseHostname("api.example.com"))
		t.Validation.SubjectAltNames = []gwapiv1.SubjectAltName{{Type: gwapiv1.URISubjectAltNameType, URI: "spiffe://cluster/ns/api"}}
		t.VerifyDepth = ptr.To[int32](1)
		t.MinVersion = v1alpha1.TLSVersion13
		t.ClientCertificateRef = &v1alpha1.SecretReference{Name: "client"}
	})
	system := tlsResult("sys", 443, func(t *v1alpha1.UpstreamTLS) {
		t.Validation.CACertificateRefs = nil
		t.Validation.WellKnownCACertificates = ptr.To(gwapiv1.WellKnownCACertificatesSystem)
	})
	pod := tlsResult("pod", 443, func(t *v1alpha1.UpstreamTLS) {
		t.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle",
			ClusterTrustBundleSelector: &v1alpha1.ClusterTrustBundleSelector{SignerName: "example.com/upstreams"}}}
		t.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: "example.com/gateway-clients"}
	})
	results := []upstreamResult{full, system, pod}
	rendered, err := renderProxyConfig(proxyUpstreams(tenantWith(results...), results), contract.DefaultExpiryWarning)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := contract.ParseConfig(rendered.data)
	if err != nil {
		t.Fatalf("the proxy refuses the rendered configuration: %v\n%s", err, rendered.data)
	}
	if len(cfg.Upstreams) != 3 {
		t.Fatalf("%d upstreams rendered, want 3", len(cfg.Upstreams))
	}
	api, sys, podCert := cfg.Upstreams[0], cfg.Upstreams[1], cfg.Upstreams[2]
	for _, c := range []struct{ field, got, want string }{
		{"admin.address", cfg.Admin.Address, ":9090"},
		{"api listen", api.Listen, ":8000"},
		{"api address", api.Address, "api.ns.svc:8443"},
		{"api serverName", api.TLS.ServerName, "api.example.com"},
		{"api minVersion", api.TLS.MinVersion, "1.3"},
		{"api caFiles", strings.Join(api.TLS.CAFiles, ","),
			"/etc/gatewaytenant/upstreams/api/ca-0/ca.crt,/etc/gatewaytenant/upstreams/api/ca-1/ca.crt"},
		{"api SAN", api.TLS.SubjectAltNames[0].URI, "spiffe://cluster/ns/api"},
		{"api client cert", api.TLS.ClientCertificate.CertFile, "/etc/gatewaytenant/upstreams/api/client/tls.crt"},
		{"api client key", api.TLS.ClientCertificate.KeyFile, "/etc/gatewaytenant/upstreams/api/client/tls.key"},
		{"sys listen", sys.Listen, ":8001"},
		{"sys serverName (the host by default)", sys.TLS.ServerName, "sys.ns.svc"},
		{"pod caFiles", strings.Join(podCert.TLS.CAFiles, ","), "/etc/gatewaytenant/upstreams/pod/ca-0/ca.crt"},
		{"pod client certificate", podCert.TLS.ClientCertificate.CredentialBundleFile, "/etc/gatewaytenant/upstreams/pod/client/credential-bundle.pem"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if api.TLS.VerifyDepth == nil || *api.TLS.VerifyDepth != 1 {
		t.Errorf("api verifyDepth = %v, want 1", api.TLS.VerifyDepth)
	}
	if !sys.TLS.SystemRoots || len(sys.TLS.CAFiles) != 0 {
		t.Errorf("sys: systemRoots %v caFiles %v, want the system roots only", sys.TLS.SystemRoots, sys.TLS.CAFiles)
	}
	if cfg.Verification.ExpiryWarning != nil {
		t.Errorf("the default expiry warning is written (%v): every existing proxy would roll on upgrade", cfg.Verification.ExpiryWarning)
	}
	week, err := renderProxyConfig(proxyUpstreams(tenantWith(results...), results), 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := contract.ParseConfig(week.data); err != nil || cfg.Verification.ExpiryWarning.Duration != 7*24*time.Hour {
		t.Errorf("a week's expiry warning: %v %+v", err, cfg)
	}
}

func TestProxyDeploymentRunsRestrictedAndRollsOnConfigChange(t *testing.T) {
	up := tlsResult("api", 8443, func(t *v1alpha1.UpstreamTLS) {
		t.ClientCertificateRef = &v1alpha1.SecretReference{Name: "client"}
		t.Validation.CACertificateRefs = append(t.Validation.CACertificateRefs, v1alpha1.CACertificateReference{Kind: "Secret", Name: "ca-secret"},
			v1alpha1.CACertificateReference{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle", Name: "example.com:upstreams:v1"},
			v1alpha1.CACertificateReference{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle",
				ClusterTrustBundleSelector: &v1alpha1.ClusterTrustBundleSelector{SignerName: "example.com/upstreams",
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"trust": "upstreams"}}}},
			v1alpha1.CACertificateReference{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle",
				ClusterTrustBundleSelector: &v1alpha1.ClusterTrustBundleSelector{SignerName: "example.com/upstreams"}})
	})
	withPodCert := tlsResult("pod", 443, func(t *v1alpha1.UpstreamTLS) {
		t.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: "example.com/gateway-clients", MaxExpirationSeconds: ptr.To[int32](3600)}
	})
	tenant := tenantWith(up, withPodCert)
	ups := proxyUpstreams(tenant, []upstreamResult{up, withPodCert})
	settings := ProxySettings{Image: "example/proxy:1", Replicas: 3}
	dep := proxyDeployment(tenant, ups, proxyConfig{data: []byte("a")}, settings, nil)

	if *dep.Spec.Replicas != 3 || dep.Spec.Template.Spec.Containers[0].Image != "example/proxy:1" {
		t.Errorf("replicas %d image %q, want the settings'", *dep.Spec.Replicas, dep.Spec.Template.Spec.Containers[0].Image)
	}
	pod := dep.Spec.Template.Spec
	sc := pod.Containers[0].SecurityContext
	switch {
	case pod.SecurityContext.RunAsUser != nil || sc.RunAsUser != nil:
		t.Error("a fixed UID does not run under OpenShift's restricted-v2")
	case !*pod.SecurityContext.RunAsNonRoot, !*sc.RunAsNonRoot, *sc.AllowPrivilegeEscalation, !*sc.ReadOnlyRootFilesystem:
		t.Errorf("security context %+v is not restricted", sc)
	case len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL":
		t.Errorf("capabilities %+v, want drop ALL", sc.Capabilities)
	case pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("seccomp profile is not RuntimeDefault")
	case *pod.AutomountServiceAccountToken:
		t.Error("the proxy needs no API token")
	}
	var projected []string
	for _, v := range pod.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			projected = append(projected, describeProjection(src)...)
		}
	}
	want := []string{
		"ConfigMap/ca:ca-0/ca.crt",
		"Secret/ca-secret:ca-1/ca.crt optional",
		"ClusterTrustBundle/example.com:upstreams:v1:ca-2/ca.crt optional",
		"ClusterTrustBundles/example.com/upstreams trust=upstreams:ca-3/ca.crt optional",
		"ClusterTrustBundles/example.com/upstreams (every bundle):ca-4/ca.crt optional",
		"Secret/client:client/tls.crt optional", "Secret/client:client/tls.key optional",
		"ConfigMap/ca:ca-0/ca.crt", // the second upstream's own volume
		"PodCertificate/example.com/gateway-clients ECDSAP256 3600s:client/credential-bundle.pem",
	}
	if !slices.Equal(projected, want) {
		t.Errorf("projected files\n%s\nwant\n%s", strings.Join(projected, "\n"), strings.Join(want, "\n"))
	}

	same := proxyDeployment(tenant, ups, proxyConfig{data: []byte("a")}, settings, nil)
	changed := proxyDeployment(tenant, ups, proxyConfig{data: []byte("b")}, settings, nil)
	hash := func(d *appsv1.Deployment) string { return d.Spec.Template.Annotations[annotationConfigHash] }
	if hash(dep) != hash(same) || hash(dep) == hash(changed) {
		t.Errorf("config hash %q / %q / %q: must follow the configuration and nothing else", hash(dep), hash(same), hash(changed))
	}
}

// describeProjection is one line per file a projected source writes: where from, to which
// path, and whether the source is optional.
func describeProjection(src corev1.VolumeProjection) []string {
	opt := func(o *bool) string {
		if ptr.Deref(o, false) {
			return " optional"
		}
		return ""
	}
	var out []string
	switch {
	case src.ConfigMap != nil:
		out = append(out, "ConfigMap/"+src.ConfigMap.Name+":"+src.ConfigMap.Items[0].Path+opt(src.ConfigMap.Optional))
	case src.Secret != nil:
		for _, item := range src.Secret.Items {
			out = append(out, "Secret/"+src.Secret.Name+":"+item.Path+opt(src.Secret.Optional))
		}
	case src.ClusterTrustBundle != nil && src.ClusterTrustBundle.Name != nil:
		out = append(out, "ClusterTrustBundle/"+*src.ClusterTrustBundle.Name+":"+src.ClusterTrustBundle.Path+opt(src.ClusterTrustBundle.Optional))
	case src.ClusterTrustBundle != nil:
		sel := metav1.FormatLabelSelector(src.ClusterTrustBundle.LabelSelector)
		if sel == "<none>" {
			sel = "(every bundle)" // an empty selector: a nil one would match none
		}
		out = append(out, "ClusterTrustBundles/"+*src.ClusterTrustBundle.SignerName+" "+sel+":"+src.ClusterTrustBundle.Path+opt(src.ClusterTrustBundle.Optional))
	case src.PodCertificate != nil:
		pc := src.PodCertificate
		out = append(out, fmt.Sprintf("PodCertificate/%s %s %ds:%s", pc.SignerName, pc.KeyType, ptr.Deref(pc.MaxExpirationSeconds, 0), pc.CredentialBundlePath))
	}
	return out
}

func cert(cn string, notBefore, notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, NotBefore: notBefore, NotAfter: notAfter}
}

func TestCheckExpiry(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, c := range []struct {
		desc        string
		certs       []*x509.Certificate
		wantReason  string
		wantWarning string // substring; empty: no warning
		wantExpiry  time.Time
	}{
		{desc: "valid for long", certs: []*x509.Certificate{cert("ca", now.Add(-day), now.Add(365*day))}, wantExpiry: now.Add(365 * day)},
		{desc: "soonest of several, inside the window", certs: []*x509.Certificate{
			cert("ca", now.Add(-day), now.Add(365*day)), cert("client", now.Add(-day), now.Add(10*day)),
		}, wantWarning: `certificate "client" expires at 2026-12-02T12:00:00Z`, wantExpiry: now.Add(10 * day)},
		{desc: "expired", certs: []*x509.Certificate{cert("old", now.Add(-2*day), now.Add(-day))},
			wantReason: v1alpha1.ReasonCertificateExpired},
		{desc: "not yet valid", certs: []*x509.Certificate{cert("future", now.Add(day), now.Add(2*day))},
			wantReason: v1alpha1.ReasonCertificateExpired},
	} {
		t.Run(c.desc, func(t *testing.T) {
			got := checkExpiry(certCheck{}, c.certs, now, 30*day)
			if got.reason != c.wantReason {
				t.Fatalf("reason %q (%s), want %q", got.reason, got.detail, c.wantReason)
			}
			if c.wantWarning == "" && got.expiring != "" || !strings.Contains(got.expiring, c.wantWarning) {
				t.Errorf("warning %q, want %q", got.expiring, c.wantWarning)
			}
			if c.wantReason == "" && !got.notAfter.Equal(c.wantExpiry) {
				t.Errorf("notAfter %s, want %s", got.notAfter, c.wantExpiry)
			}
		})
	}
}

func TestNextCertificateCheck(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	warning := 30 * 24 * time.Hour
	obs := func(notAfters ...time.Time) *observation {
		o := &observation{now: now, expiryWarning: warning}
		for _, na := range notAfters {
			o.upstreams = append(o.upstreams, upstreamResult{notAfter: na})
		}
		return o
	}
	for _, c := range []struct {
		desc string
		obs  *observation
		want time.Duration
	}{
		{"no certificates: nothing to wait for", obs(), 0},
		{"plain upstreams have none", obs(time.Time{}), 0},
		{"next entry into the warning window", obs(now.Add(warning + time.Hour)), time.Hour + time.Second},
		{"inside the window: the expiry itself", obs(now.Add(2 * time.Hour)), 2*time.Hour + time.Second},
		{"the soonest of several", obs(now.Add(warning+5*time.Hour), now.Add(3*time.Hour)), 3*time.Hour + time.Second},
		{"expired: nothing left to wait for", obs(now.Add(-time.Hour)), 0},
	} {
		t.Run(c.desc, func(t *testing.T) {
			if got := c.obs.nextCheck(); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}
