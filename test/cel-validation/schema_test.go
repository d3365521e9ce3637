package celvalidation

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
)

// validTenant is the base every case mutates: valid as it stands.
func validTenant(name string) *v1alpha1.GatewayTenant {
	return &v1alpha1.GatewayTenant{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1alpha1.GatewayTenantSpec{
			DataPlane:    "aps-silver",
			Environments: []v1alpha1.EnvironmentName{"test", "prod"},
			Upstreams: []v1alpha1.Upstream{{
				Name: "my-upstream-api",
				Host: "my-upstream-api.abc123-prod.svc",
				Port: 8443,
				TLS: &v1alpha1.UpstreamTLS{
					Validation: v1alpha1.UpstreamTLSValidation{
						CACertificateRefs: []v1alpha1.CACertificateReference{{Name: "upstream-ca"}},
						SubjectAltNames: []gwapiv1.SubjectAltName{
							{Type: gwapiv1.HostnameSubjectAltNameType, Hostname: "kong.example"},
							{Type: gwapiv1.URISubjectAltNameType, URI: "spiffe://cluster.local/ns/abc123-prod/sa/api"},
						},
					},
					VerifyDepth:          ptr.To[int32](1),
					MinVersion:           v1alpha1.TLSVersion13,
					ClientCertificateRef: &v1alpha1.SecretReference{Name: "client-cert"},
				},
			}},
		},
	}
}

func upstream0(t *v1alpha1.GatewayTenant) *v1alpha1.Upstream { return &t.Spec.Upstreams[0] }

// ctbRef is a reference to the ClusterTrustBundle named name ("": none, for a selector).
func ctbRef(name string) v1alpha1.CACertificateReference {
	return v1alpha1.CACertificateReference{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle", Name: v1alpha1.CACertificateRefName(name)}
}

func TestGatewayTenantSchema(t *testing.T) {
	cases := []struct {
		desc      string
		mutate    func(*v1alpha1.GatewayTenant)
		wantError string // empty: admitted
	}{
		{desc: "valid base", mutate: func(*v1alpha1.GatewayTenant) {}},
		{desc: "plain upstream, defaults", mutate: func(t *v1alpha1.GatewayTenant) {
			t.Spec.DataPlane, t.Spec.Environments, upstream0(t).TLS = "", nil, nil
		}},
		{desc: "well-known CA instead of refs", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.Validation.CACertificateRefs = nil
			upstream0(t).TLS.Validation.WellKnownCACertificates = ptr.To(gwapiv1.WellKnownCACertificatesSystem)
		}},
		{desc: "host with a domain", mutate: func(t *v1alpha1.GatewayTenant) { upstream0(t).Host = "api.example.com" },
			wantError: `spec.upstreams[0].host: Invalid value: "api.example.com": host must have the form <service>.<namespace>.svc`},
		{desc: "host without .svc", mutate: func(t *v1alpha1.GatewayTenant) { upstream0(t).Host = "api.abc123-prod" },
			wantError: "host must have the form <service>.<namespace>.svc"},
		{desc: "host with cluster domain", mutate: func(t *v1alpha1.GatewayTenant) { upstream0(t).Host = "api.abc123-prod.svc.cluster.local" },
			wantError: "host must have the form <service>.<namespace>.svc"},
		{desc: "host label too long", mutate: func(t *v1alpha1.GatewayTenant) { upstream0(t).Host = strings.Repeat("a", 64) + ".abc123-prod.svc" },
			wantError: "host must have the form <service>.<namespace>.svc"},
		{desc: "port zero", mutate: func(t *v1alpha1.GatewayTenant) { upstream0(t).Port = 0 },
			wantError: "spec.upstreams[0].port: Invalid value: 0: spec.upstreams[0].port in body should be greater than or equal to 1"},
		{desc: "port too high", mutate: func(t *v1alpha1.GatewayTenant) { upstream0(t).Port = 65536 },
			wantError: "spec.upstreams[0].port in body should be less than or equal to 65535"},
		{desc: "upstream name not a DNS label", mutate: func(t *v1alpha1.GatewayTenant) { upstream0(t).Name = "my.api" },
			wantError: `spec.upstreams[0].name: Invalid value: "my.api"`},
		{desc: "duplicate upstream names", mutate: func(t *v1alpha1.GatewayTenant) {
			t.Spec.Upstreams = append(t.Spec.Upstreams, *upstream0(t).DeepCopy())
		}, wantError: "spec.upstreams[1]: Duplicate value"},
		{desc: "no upstreams", mutate: func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams = []v1alpha1.Upstream{} },
			wantError: "spec.upstreams: Invalid value: 0: spec.upstreams in body should have at least 1 items"},
		{desc: "duplicate environments", mutate: func(t *v1alpha1.GatewayTenant) { t.Spec.Environments = []v1alpha1.EnvironmentName{"test", "test"} },
			wantError: `spec.environments[1]: Duplicate value: "test"`},
		{desc: "environment name not a DNS label", mutate: func(t *v1alpha1.GatewayTenant) { t.Spec.Environments = []v1alpha1.EnvironmentName{"Prod"} },
			wantError: `spec.environments[0]: Invalid value: "Prod"`},
		{desc: "both CA sources", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.Validation.WellKnownCACertificates = ptr.To(gwapiv1.WellKnownCACertificatesSystem)
		}, wantError: "spec.upstreams[0].tls.validation: Invalid value: exactly one of caCertificateRefs or wellKnownCACertificates must be set"},
		{desc: "neither CA source", mutate: func(t *v1alpha1.GatewayTenant) { upstream0(t).TLS.Validation.CACertificateRefs = nil },
			wantError: "exactly one of caCertificateRefs or wellKnownCACertificates must be set"},
		{desc: "verify depth negative", mutate: func(t *v1alpha1.GatewayTenant) { upstream0(t).TLS.VerifyDepth = ptr.To[int32](-1) },
			wantError: "spec.upstreams[0].tls.verifyDepth: Invalid value: -1"},
		{desc: "verify depth too deep", mutate: func(t *v1alpha1.GatewayTenant) { upstream0(t).TLS.VerifyDepth = ptr.To[int32](11) },
			wantError: "spec.upstreams[0].tls.verifyDepth in body should be less than or equal to 10"},
		{desc: "TLS 1.1", mutate: func(t *v1alpha1.GatewayTenant) { upstream0(t).TLS.MinVersion = "1.1" },
			wantError: `spec.upstreams[0].tls.minVersion: Unsupported value: "1.1": supported values: "1.2", "1.3"`},
		{desc: "hostname SAN without hostname", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.Validation.SubjectAltNames[0].Hostname = ""
		}, wantError: "SubjectAltName element must contain Hostname, if Type is set to Hostname"},
		{desc: "URI SAN not absolute", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.Validation.SubjectAltNames[1].URI = "cluster.local/api"
		}, wantError: "spec.upstreams[0].tls.validation.subjectAltNames[1].uri"},
		{desc: "tenant name of 57 characters", mutate: func(t *v1alpha1.GatewayTenant) { t.Name = "a" + strings.Repeat("b", 56) }},
		{desc: "tenant name with no room for -proxy", mutate: func(t *v1alpha1.GatewayTenant) { t.Name = strings.Repeat("a", 58) },
			wantError: "metadata.name must be a DNS label of at most 57 characters that starts with a letter"},
		{desc: "tenant name too long for labels", mutate: func(t *v1alpha1.GatewayTenant) { t.Name = strings.Repeat("a", 64) },
			wantError: "metadata.name must be a DNS label of at most 57 characters"},
		{desc: "tenant name with a dot", mutate: func(t *v1alpha1.GatewayTenant) { t.Name = "my.api" },
			wantError: "metadata.name must be a DNS label"},
		{desc: "tenant name starting with a digit", mutate: func(t *v1alpha1.GatewayTenant) { t.Name = "264e6f-api" },
			wantError: "metadata.name must be a DNS label of at most 57 characters that starts with a letter"},
		{desc: "gateway id and data class", mutate: func(t *v1alpha1.GatewayTenant) { t.Spec.GatewayID, t.Spec.DataClass = "gw-1a2b3", "medium" }},
		{desc: "gateway id in upper case", mutate: func(t *v1alpha1.GatewayTenant) { t.Spec.GatewayID = "GW-1A2B3" },
			wantError: `spec.gatewayID: Invalid value: "GW-1A2B3": spec.gatewayID in body should match`},
		{desc: "gateway id with a qualifier", mutate: func(t *v1alpha1.GatewayTenant) { t.Spec.GatewayID = "gw-1a2b3.dev" },
			wantError: `spec.gatewayID: Invalid value: "gw-1a2b3.dev"`},
		{desc: "gateway id too long", mutate: func(t *v1alpha1.GatewayTenant) { t.Spec.GatewayID = strings.Repeat("g", 64) },
			wantError: "spec.gatewayID: Too long: may not be more than 63 bytes"},
		{desc: "data class in upper case", mutate: func(t *v1alpha1.GatewayTenant) { t.Spec.DataClass = "Medium" },
			wantError: `spec.dataClass: Invalid value: "Medium": spec.dataClass in body should match`},
		{desc: "ClusterTrustBundle by name, of a signer", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{ctbRef("example.com:upstreams:v1")}
		}},
		{desc: "ClusterTrustBundles by signer and labels", mutate: func(t *v1alpha1.GatewayTenant) {
			ref := ctbRef("")
			ref.ClusterTrustBundleSelector = &v1alpha1.ClusterTrustBundleSelector{SignerName: "example.com/upstreams",
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"trust": "upstreams"}}}
			upstream0(t).TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{ref}
		}},
		{desc: "ClusterTrustBundles by signer alone", mutate: func(t *v1alpha1.GatewayTenant) {
			ref := ctbRef("")
			ref.ClusterTrustBundleSelector = &v1alpha1.ClusterTrustBundleSelector{SignerName: "example.com/upstreams"}
			upstream0(t).TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{ref}
		}},
		{desc: "ClusterTrustBundle by name and selector", mutate: func(t *v1alpha1.GatewayTenant) {
			ref := ctbRef("example.com:upstreams:v1")
			ref.ClusterTrustBundleSelector = &v1alpha1.ClusterTrustBundleSelector{SignerName: "example.com/upstreams"}
			upstream0(t).TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{ref}
		}, wantError: "spec.upstreams[0].tls.validation.caCertificateRefs[0]: Invalid value: give exactly one of name and clusterTrustBundleSelector"},
		{desc: "reference with neither name nor selector", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Kind: "ConfigMap"}}
		}, wantError: "give exactly one of name and clusterTrustBundleSelector"},
		{desc: "selector on a ConfigMap reference", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Kind: "ConfigMap",
				ClusterTrustBundleSelector: &v1alpha1.ClusterTrustBundleSelector{SignerName: "example.com/upstreams"}}}
		}, wantError: "clusterTrustBundleSelector selects ClusterTrustBundles: set group certificates.k8s.io and kind ClusterTrustBundle"},
		{desc: "selector with a signer name that is no domain/path", mutate: func(t *v1alpha1.GatewayTenant) {
			ref := ctbRef("")
			ref.ClusterTrustBundleSelector = &v1alpha1.ClusterTrustBundleSelector{SignerName: "upstreams"}
			upstream0(t).TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{ref}
		}, wantError: `spec.upstreams[0].tls.validation.caCertificateRefs[0].clusterTrustBundleSelector.signerName: Invalid value: "upstreams"`},
		{desc: "ConfigMap name with a colon", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Kind: "ConfigMap", Name: "example.com:ca"}}
		}, wantError: "name may contain ':' only for a ClusterTrustBundle"},
		{desc: "pod certificate", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.ClientCertificateRef = nil
			upstream0(t).TLS.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: "example.com/gateway-clients", KeyType: "ED25519",
				MaxExpirationSeconds: ptr.To[int32](7862400)}
		}},
		{desc: "pod certificate and client certificate Secret", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: "example.com/gateway-clients"}
		}, wantError: "spec.upstreams[0].tls: Invalid value: clientCertificateRef and podCertificate are mutually exclusive"},
		{desc: "pod certificate of an unknown key type", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.ClientCertificateRef = nil
			upstream0(t).TLS.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: "example.com/gateway-clients", KeyType: "RSA2048"}
		}, wantError: `spec.upstreams[0].tls.podCertificate.keyType: Unsupported value: "RSA2048"`},
		{desc: "pod certificate shorter than an hour", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.ClientCertificateRef = nil
			upstream0(t).TLS.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: "example.com/gateway-clients", MaxExpirationSeconds: ptr.To[int32](3599)}
		}, wantError: "spec.upstreams[0].tls.podCertificate.maxExpirationSeconds: Invalid value: 3599"},
		{desc: "pod certificate longer than 91 days", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.ClientCertificateRef = nil
			upstream0(t).TLS.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: "example.com/gateway-clients", MaxExpirationSeconds: ptr.To[int32](7862401)}
		}, wantError: "spec.upstreams[0].tls.podCertificate.maxExpirationSeconds in body should be less than or equal to 7862400"},
		{desc: "pod certificate of kubernetes.io for two days", mutate: func(t *v1alpha1.GatewayTenant) {
			upstream0(t).TLS.ClientCertificateRef = nil
			upstream0(t).TLS.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: "clients.kubernetes.io/gateway", MaxExpirationSeconds: ptr.To[int32](172800)}
		}, wantError: "signers of kubernetes.io issue pod certificates for at most 86400 seconds"},
	}
	for i, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			obj := validTenant(fmt.Sprintf("case-%d", i))
			c.mutate(obj)
			expectAdmission(t, obj, c.wantError)
		})
	}
}

func validDataPlane(name string) *v1alpha1.GatewayDataPlane {
	return &v1alpha1.GatewayDataPlane{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.GatewayDataPlaneSpec{Environments: []v1alpha1.DataPlaneEnvironment{{
			Name:              "test",
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"environment": "test", "name": "264e6f"}},
			NamespaceNames:    []string{"264e6f-test"},
		}}},
	}
}

func TestGatewayDataPlaneSchema(t *testing.T) {
	cases := []struct {
		desc      string
		mutate    func(*v1alpha1.GatewayDataPlane)
		wantError string
	}{
		{desc: "valid base", mutate: func(*v1alpha1.GatewayDataPlane) {}},
		{desc: "selector by expression only", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.Environments[0].NamespaceSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "name", Operator: metav1.LabelSelectorOpIn, Values: []string{"264e6f"}},
			}}
		}},
		{desc: "empty selector", mutate: func(d *v1alpha1.GatewayDataPlane) { d.Spec.Environments[0].NamespaceSelector = metav1.LabelSelector{} },
			wantError: "spec.environments[0].namespaceSelector: Invalid value: namespaceSelector must require a label"},
		{desc: "selector by Exists", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.Environments[0].NamespaceSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "gateway", Operator: metav1.LabelSelectorOpExists},
				{Key: "name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"b8840c"}},
			}}
		}},
		{desc: "selector of only DoesNotExist", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.Environments[0].NamespaceSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "tenant", Operator: metav1.LabelSelectorOpDoesNotExist},
			}}
		}, wantError: "spec.environments[0].namespaceSelector: Invalid value: namespaceSelector must require a label"},
		{desc: "selector of only NotIn and DoesNotExist", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.Environments[0].NamespaceSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "environment", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"dev"}},
				{Key: "tenant", Operator: metav1.LabelSelectorOpDoesNotExist},
			}}
		}, wantError: "only NotIn and DoesNotExist terms, admits nearly every namespace"},
		{desc: "no environments", mutate: func(d *v1alpha1.GatewayDataPlane) { d.Spec.Environments = []v1alpha1.DataPlaneEnvironment{} },
			wantError: "spec.environments in body should have at least 1 items"},
		{desc: "duplicate environments", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.Environments = append(d.Spec.Environments, *d.Spec.Environments[0].DeepCopy())
		}, wantError: "spec.environments[1]: Duplicate value"},
		{desc: "namespace name not a DNS label", mutate: func(d *v1alpha1.GatewayDataPlane) { d.Spec.Environments[0].NamespaceNames = []string{"Bad_Name"} },
			wantError: `spec.environments[0].namespaceNames[0]: Invalid value: "Bad_Name"`},
		{desc: "gateway service, defaults only", mutate: func(d *v1alpha1.GatewayDataPlane) { d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{} }},
		{desc: "gateway service of another platform", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{NamespaceTag: "team:{gatewayID}", Protocol: "h2c",
				DataClass: &v1alpha1.DataClassSpec{Tag: "class:{dataClass}", Classes: []v1alpha1.DataClass{{Name: "internal"}}, DefaultClass: "internal"}}
		}},
		{desc: "namespace tag without the gateway id", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{NamespaceTag: "ns.gateway"}
		}, wantError: `spec.gatewayService.namespaceTag: Invalid value: "ns.gateway": namespaceTag must hold {gatewayID} once`},
		{desc: "namespace tag with a space", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{NamespaceTag: "ns {gatewayID}"}
		}, wantError: "namespaceTag must hold {gatewayID} once"},
		{desc: "unknown format", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{Format: "KongDeclarative"}
		}, wantError: `spec.gatewayService.format: Unsupported value: "KongDeclarative": supported values: "GatewayService"`},
		{desc: "protocol in upper case", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{Protocol: "HTTP"}
		}, wantError: `spec.gatewayService.protocol: Invalid value: "HTTP"`},
		{desc: "data class tag without the class", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{DataClass: &v1alpha1.DataClassSpec{Tag: "aps.route.dataclass", Classes: []v1alpha1.DataClass{{Name: "medium"}}}}
		}, wantError: `spec.gatewayService.dataClass.tag: Invalid value: "aps.route.dataclass": tag must hold {dataClass} once`},
		{desc: "data classes without classes", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{DataClass: &v1alpha1.DataClassSpec{Tag: "c.{dataClass}", Classes: []v1alpha1.DataClass{}}}
		}, wantError: "spec.gatewayService.dataClass.classes in body should have at least 1 items"},
		{desc: "default class not among the classes", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{DataClass: &v1alpha1.DataClassSpec{Tag: "c.{dataClass}",
				Classes: []v1alpha1.DataClass{{Name: "medium"}}, DefaultClass: "high"}}
		}, wantError: "spec.gatewayService.dataClass: Invalid value: defaultClass must be the name of one of classes"},
		{desc: "workload label without a value for a class", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{DataClass: &v1alpha1.DataClassSpec{Tag: "c.{dataClass}",
				Classes: []v1alpha1.DataClass{{Name: "medium", WorkloadLabelValue: "Medium"}, {Name: "high"}}, WorkloadLabelKey: "DataClass"}}
		}, wantError: "every class needs workloadLabelValue when workloadLabelKey is set"},
		{desc: "workload label key not a label key", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{DataClass: &v1alpha1.DataClassSpec{Tag: "c.{dataClass}",
				Classes: []v1alpha1.DataClass{{Name: "medium", WorkloadLabelValue: "Medium"}}, WorkloadLabelKey: "data class"}}
		}, wantError: `spec.gatewayService.dataClass.workloadLabelKey: Invalid value: "data class"`},
		{desc: "upstream TLS by the proxy, spelt out", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{Mode: v1alpha1.UpstreamTLSModeProxy}
		}},
		{desc: "upstream TLS, mode defaulted", mutate: func(d *v1alpha1.GatewayDataPlane) { d.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{} }},
		{desc: "upstream TLS by BackendTLSPolicy, with the implementation's option", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{Mode: v1alpha1.UpstreamTLSModeBackendTLSPolicy,
				BackendTLSPolicy: &v1alpha1.BackendTLSPolicySettings{DefaultMinVersion: v1alpha1.TLSVersion13, MinVersionOption: "kgateway.dev/min-tls-version"}}
		}},
		{desc: "unknown upstream TLS mode", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{Mode: "Sidecar"}
		}, wantError: `spec.upstreamTLS.mode: Unsupported value: "Sidecar": supported values: "Proxy", "BackendTLSPolicy"`},
		{desc: "BackendTLSPolicy settings for the proxy", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{Mode: v1alpha1.UpstreamTLSModeProxy, BackendTLSPolicy: &v1alpha1.BackendTLSPolicySettings{}}
		}, wantError: "backendTLSPolicy applies to mode BackendTLSPolicy only"},
		{desc: "BackendTLSPolicy settings without a mode", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{BackendTLSPolicy: &v1alpha1.BackendTLSPolicySettings{}}
		}, wantError: "backendTLSPolicy applies to mode BackendTLSPolicy only"},
		{desc: "a minimum version option without a domain", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{Mode: v1alpha1.UpstreamTLSModeBackendTLSPolicy,
				BackendTLSPolicy: &v1alpha1.BackendTLSPolicySettings{MinVersionOption: "min-tls-version"}}
		}, wantError: "minVersionOption must be a domain-prefixed key"},
		{desc: "a default minimum version TLS does not have", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{Mode: v1alpha1.UpstreamTLSModeBackendTLSPolicy,
				BackendTLSPolicy: &v1alpha1.BackendTLSPolicySettings{DefaultMinVersion: "1.1"}}
		}, wantError: `spec.upstreamTLS.backendTLSPolicy.defaultMinVersion: Unsupported value: "1.1"`},
		{desc: "duplicate classes", mutate: func(d *v1alpha1.GatewayDataPlane) {
			d.Spec.GatewayService = &v1alpha1.GatewayServiceSpec{DataClass: &v1alpha1.DataClassSpec{Tag: "c.{dataClass}",
				Classes: []v1alpha1.DataClass{{Name: "medium"}, {Name: "medium"}}}}
		}, wantError: "spec.gatewayService.dataClass.classes[1]: Duplicate value"},
	}
	for i, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			obj := validDataPlane(fmt.Sprintf("schema-case-%d", i))
			c.mutate(obj)
			expectAdmission(t, obj, c.wantError)
		})
	}
}

// expectAdmission creates obj on the real API server (a server-side dry run) and checks that
// it is admitted when wantError is empty, and otherwise refused with a message containing it.
func expectAdmission(t *testing.T, obj client.Object, wantError string) {
	t.Helper()
	err := k8sClient.Create(ctx, obj, client.DryRunAll)
	switch {
	case wantError == "" && err != nil:
		t.Fatalf("want admitted, got: %v", err)
	case wantError != "" && err == nil:
		t.Fatalf("want refused with %q, was admitted", wantError)
	case wantError != "" && !strings.Contains(err.Error(), wantError):
		t.Fatalf("want an error containing\n  %s\ngot\n  %v", wantError, err)
	}
}

// TestPresetsStoreAsTheyAre: every built-in preset is admitted, and the API server's defaults
// change nothing of its spec, so that the manager, which restores a preset's spec when it
// differs, never finds a difference it made itself.
func TestPresetsStoreAsTheyAre(t *testing.T) {
	for _, name := range dataplane.PresetNames() {
		t.Run(name, func(t *testing.T) {
			want, err := dataplane.Preset(name)
			if err != nil {
				t.Fatal(err)
			}
			stored := want.DeepCopy()
			if err := k8sClient.Create(ctx, stored, client.DryRunAll); err != nil {
				t.Fatalf("preset %s refused: %v", name, err)
			}
			if !equality.Semantic.DeepEqual(stored.Spec, want.Spec) {
				t.Errorf("the API server stores preset %s as\n%+v\nnot as\n%+v", name, stored.Spec, want.Spec)
			}
		})
	}
}
