package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

func tenant(name string, generation int64, ready ...metav1.Condition) v1alpha1.GatewayTenant {
	t := v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: generation}}
	t.Status.Conditions = ready
	return t
}

func ready(status metav1.ConditionStatus, reason string, generation int64) metav1.Condition {
	return metav1.Condition{Type: v1alpha1.ConditionReady, Status: status, Reason: reason, ObservedGeneration: generation}
}

// Tenants are counted by their Ready condition of the current generation; the collector
// reads them from the reader at every scrape.
func TestTenants(t *testing.T) {
	objs := []v1alpha1.GatewayTenant{
		tenant("a", 1, ready(metav1.ConditionTrue, "Ready", 1)),
		tenant("b", 2, ready(metav1.ConditionTrue, "Ready", 2)),
		tenant("c", 1, ready(metav1.ConditionFalse, v1alpha1.ReasonDataPlaneNotFound, 1)),
		tenant("d", 3, ready(metav1.ConditionTrue, "Ready", 2)), // stale: spec changed since
		tenant("e", 1), // never reconciled
	}
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(s)
	for i := range objs {
		b = b.WithObjects(&objs[i])
	}
	c := &Tenants{Reader: b.Build(), Timeout: time.Second}
	want := `
# HELP gatewaytenant_tenants GatewayTenants by the status (True, False, Unknown) and reason of their Ready condition; Unknown with reason Pending: not reconciled yet.
# TYPE gatewaytenant_tenants gauge
gatewaytenant_tenants{ready="False",reason="DataPlaneNotFound"} 1
gatewaytenant_tenants{ready="True",reason="Ready"} 2
gatewaytenant_tenants{ready="Unknown",reason="Pending"} 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// A tenant's certificate series follow its latest set: a dropped reference loses its series,
// a forgotten tenant loses all, other tenants keep theirs.
func TestCertificates(t *testing.T) {
	c := NewCertificates()
	a := types.NamespacedName{Namespace: "ns", Name: "a"}
	b := types.NamespacedName{Namespace: "ns", Name: "b"}
	t0 := time.Unix(1900000000, 0)
	c.Set(a, []CertificateRef{
		{Upstream: "api", Kind: KindCA, Ref: "ConfigMap/ca", NotAfter: t0},
		{Upstream: "api", Kind: KindClient, Ref: "Secret/client", NotAfter: t0.Add(time.Hour)},
	})
	c.Set(b, []CertificateRef{{Upstream: "web", Kind: KindCA, Ref: "Secret/ca", NotAfter: t0}})
	c.Set(a, []CertificateRef{{Upstream: "api", Kind: KindCA, Ref: "ConfigMap/ca", NotAfter: t0.Add(2 * time.Hour)}})
	want := `
# HELP gatewaytenant_certificate_not_after_timestamp_seconds Earliest notAfter (Unix seconds) of a CA bundle or client certificate a GatewayTenant's upstream references (of a Secret or pod certificate: as the proxy replicas loaded it).
# TYPE gatewaytenant_certificate_not_after_timestamp_seconds gauge
gatewaytenant_certificate_not_after_timestamp_seconds{kind="ca",namespace="ns",ref="ConfigMap/ca",tenant="a",upstream="api"} 1.9000072e+09
gatewaytenant_certificate_not_after_timestamp_seconds{kind="ca",namespace="ns",ref="Secret/ca",tenant="b",upstream="web"} 1.9e+09
`
	if err := testutil.CollectAndCompare(c.Collector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	c.Forget(a)
	if n := testutil.CollectAndCount(c.Collector()); n != 1 {
		t.Errorf("after forgetting a: %d series, want b's 1", n)
	}
}
