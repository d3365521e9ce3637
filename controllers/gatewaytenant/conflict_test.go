package gatewaytenant

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// Two tenants created in the same second: the message says how the tie was broken.
func TestConflictMessageSaysHowATieWasBroken(t *testing.T) {
	created := metav1.NewTime(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	tenant := func(name string, at metav1.Time) *v1alpha1.GatewayTenant {
		return &v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, CreationTimestamp: at},
			Spec: v1alpha1.GatewayTenantSpec{Upstreams: []v1alpha1.Upstream{{Name: "api", Host: "api.ns.svc", Port: 8443}}}}
	}
	for _, tc := range []struct {
		desc    string
		other   *v1alpha1.GatewayTenant
		want    string
		notWant string
	}{
		{"same second: by name", tenant("a-first", created),
			`GatewayTenant "a-first" already exposes api.ns.svc port 8443: it was created in the same second (2026-11-22T12:00:00Z) and its name sorts first`, "older"},
		{"an earlier second", tenant("z-older", metav1.NewTime(created.Add(-time.Minute))),
			`GatewayTenant "z-older" already exposes api.ns.svc port 8443: it is older (created 2026-11-22T11:59:00Z)`, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := conflictOf(tenant("b-second", created), []v1alpha1.GatewayTenant{*tc.other})
			if c == nil {
				t.Fatal("no conflict")
			}
			if msg := c.message(); !strings.Contains(msg, tc.want) || tc.notWant != "" && strings.Contains(msg, tc.notWant) {
				t.Fatalf("message %q\nwant it to contain %q and not %q", msg, tc.want, tc.notWant)
			}
		})
	}
}

// The older tenant owns the port; a younger or a deleted one takes nothing from it.
func TestConflictOfTheOlderAndTheGoing(t *testing.T) {
	at := func(name string, sec int) v1alpha1.GatewayTenant {
		return v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name,
			CreationTimestamp: metav1.NewTime(time.Date(2026, 11, 22, 12, 0, sec, 0, time.UTC))},
			Spec: v1alpha1.GatewayTenantSpec{Upstreams: []v1alpha1.Upstream{{Name: "api", Host: "api.ns.svc", Port: 8443}}}}
	}
	older, younger := at("b", 0), at("a", 1)
	if c := conflictOf(&older, []v1alpha1.GatewayTenant{older, younger}); c != nil {
		t.Errorf("the older tenant conflicts: %s", c.message())
	}
	going := older.DeepCopy()
	going.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	if c := conflictOf(&younger, []v1alpha1.GatewayTenant{*going, younger}); c != nil {
		t.Errorf("a tenant being deleted still owns the port: %s", c.message())
	}
	other := at("c", 0)
	other.Spec.Upstreams[0].Port = 9443
	if c := conflictOf(&younger, []v1alpha1.GatewayTenant{other}); c != nil {
		t.Errorf("another port conflicts: %s", c.message())
	}
}
