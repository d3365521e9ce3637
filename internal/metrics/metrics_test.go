package metrics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	fcache "k8s.io/client-go/tools/cache/testing"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

func tenant(name string, generation int64, ready ...metav1.Condition) *v1alpha1.GatewayTenant {
	t := &v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Generation: generation, UID: types.UID("uid-" + name)}}
	t.Status.Conditions = ready
	return t
}

func ready(status metav1.ConditionStatus, reason string, generation int64) metav1.Condition {
	return metav1.Condition{Type: v1alpha1.ConditionReady, Status: status, Reason: reason, ObservedGeneration: generation}
}

// Tenants are counted by their Ready condition of the current generation, as an informer
// delivers them: additions, updates that move a tenant between counts and deletions,
// including one the informer saw only as its final state unknown.
func TestTenants(t *testing.T) {
	src := fcache.NewFakeControllerSource()
	objs := []*v1alpha1.GatewayTenant{
		tenant("a", 1, ready(metav1.ConditionTrue, "Ready", 1)),
		tenant("b", 2, ready(metav1.ConditionTrue, "Ready", 2)),
		tenant("c", 1, ready(metav1.ConditionFalse, v1alpha1.ReasonDataPlaneNotFound, 1)),
		tenant("d", 3, ready(metav1.ConditionTrue, "Ready", 2)), // stale: spec changed since
		tenant("e", 1), // never reconciled
	}
	for _, o := range objs {
		src.Add(o)
	}
	c := NewTenants()
	if err := testutil.CollectAndCompare(c, strings.NewReader("")); err == nil || !strings.Contains(err.Error(), errNotSynced.Error()) {
		t.Errorf("before any informer: %v, want %v", err, errNotSynced)
	}
	inf := toolscache.NewSharedInformer(src, &v1alpha1.GatewayTenant{}, 0)
	if err := c.Watch(inf); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced, c.HasSynced) {
		t.Fatal("informer did not sync")
	}
	compare := func(want string) {
		t.Helper()
		const head = `
# HELP gatewaytenant_tenants GatewayTenants by the status (True, False, Unknown) and reason of their Ready condition; Unknown with reason Pending: not reconciled yet.
# TYPE gatewaytenant_tenants gauge
`
		// The informer delivers events on its own goroutine: wait for the counts.
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := testutil.CollectAndCompare(c, strings.NewReader(head+want))
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	compare(`gatewaytenant_tenants{ready="False",reason="DataPlaneNotFound"} 1
gatewaytenant_tenants{ready="True",reason="Ready"} 2
gatewaytenant_tenants{ready="Unknown",reason="Pending"} 2
`)
	// e is reconciled, a's data plane goes, c is deleted, d's deletion is missed.
	src.Modify(tenant("e", 1, ready(metav1.ConditionTrue, "Ready", 1)))
	src.Modify(tenant("a", 1, ready(metav1.ConditionFalse, v1alpha1.ReasonDataPlaneNotFound, 1)))
	src.Delete(objs[2])
	c.forget(toolscache.DeletedFinalStateUnknown{Key: "ns/d", Obj: objs[3]})
	compare(`gatewaytenant_tenants{ready="False",reason="DataPlaneNotFound"} 1
gatewaytenant_tenants{ready="True",reason="Ready"} 2
`)
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
