// Package rbac checks, on the real API server with RBAC authorization, what a tenant can do
// with the roles the operator ships: a ServiceAccount bound to the built-in admin (or edit,
// or view) role of its namespace, nothing more.
//
// envtest runs no kube-controller-manager, so nothing fills the aggregated admin, edit and
// view ClusterRoles. aggregate does what the cluster-role aggregation controller does: it
// sets each of them to the union of the rules of the ClusterRoles its aggregationRule
// selects. The shipped roles come from config/default as `kubectl apply -k` renders it.
package rbac

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/bundle"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

var (
	ctx   = context.Background()
	cfg   *rest.Config
	admin client.Client // system:masters
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	env, err := controlplane.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	cfg = env.Config
	if admin, err = client.New(cfg, client.Options{Scheme: manager.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// shippedTenantRoles are the ClusterRoles of the plain install that aggregate into the
// built-in roles.
func shippedTenantRoles(t *testing.T) []*rbacv1.ClusterRole {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := bundle.Render(filepath.Join(root, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	var roles []*rbacv1.ClusterRole
	for _, o := range objs {
		if o.GetKind() != "ClusterRole" {
			continue
		}
		l := o.GetLabels()
		if l[aggregateTo+"admin"] == "" && l[aggregateTo+"edit"] == "" && l[aggregateTo+"view"] == "" {
			continue
		}
		r := &rbacv1.ClusterRole{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, r); err != nil {
			t.Fatal(err)
		}
		roles = append(roles, r)
	}
	if len(roles) == 0 {
		t.Fatal("config/default ships no ClusterRole aggregated to admin, edit or view")
	}
	return roles
}

const aggregateTo = "rbac.authorization.k8s.io/aggregate-to-"

// aggregate fills the built-in view, edit and admin roles from the roles their aggregation
// rules select, in that order (edit aggregates into admin, view into edit).
func aggregate(t *testing.T) {
	t.Helper()
	for _, name := range []string{"view", "edit", "admin"} {
		role := &rbacv1.ClusterRole{}
		if err := admin.Get(ctx, client.ObjectKey{Name: name}, role); err != nil {
			t.Fatal(err)
		}
		if role.AggregationRule == nil {
			t.Fatalf("built-in role %s has no aggregation rule", name)
		}
		var rules []rbacv1.PolicyRule
		for _, sel := range role.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				t.Fatal(err)
			}
			parts := &rbacv1.ClusterRoleList{}
			if err := admin.List(ctx, parts, client.MatchingLabelsSelector{Selector: s}); err != nil {
				t.Fatal(err)
			}
			for _, p := range parts.Items {
				if p.Name != name {
					rules = append(rules, p.Rules...)
				}
			}
		}
		role.Rules = rules
		if err := admin.Update(ctx, role); err != nil {
			t.Fatal(err)
		}
	}
}

// boundServiceAccount creates a namespace and a ServiceAccount bound there to a built-in
// role, and returns a client that acts as that ServiceAccount.
func boundServiceAccount(t *testing.T, ns, builtinRole string) client.Client {
	t.Helper()
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: ns}},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "deployer-" + builtinRole, Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: builtinRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "deployer", Namespace: ns}},
		},
	} {
		if err := admin.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":deployer",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	cl, err := client.New(c, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func tenant(ns, name string) *v1alpha1.GatewayTenant {
	return &v1alpha1.GatewayTenant{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.GatewayTenantSpec{Upstreams: []v1alpha1.Upstream{{
			Name: "api", Host: "api." + ns + ".svc", Port: 8080,
		}}},
	}
}

func dataPlane(name string) *v1alpha1.GatewayDataPlane {
	return &v1alpha1.GatewayDataPlane{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.GatewayDataPlaneSpec{Environments: []v1alpha1.DataPlaneEnvironment{{
			Name:              "test",
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"environment": "test"}},
		}}},
	}
}

// TestTenantRoles: one ordered story on one API server. Without the shipped roles a
// namespace admin is refused (the failure the roles fix); with them, admin and edit
// read and write GatewayTenants, view reads them, and nobody of the namespace touches
// GatewayDataPlanes.
func TestTenantRoles(t *testing.T) {
	aggregate(t)
	adminSA := boundServiceAccount(t, "team-a", "admin")
	err := adminSA.Create(ctx, tenant("team-a", "before-roles"))
	if !apierrors.IsForbidden(err) {
		t.Fatalf("without the shipped roles, want Forbidden for a namespace admin, got %v", err)
	}

	for _, r := range shippedTenantRoles(t) {
		if err := admin.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		for _, rule := range r.Rules {
			for _, res := range rule.Resources {
				if res == "gatewaydataplanes" || res == "*" {
					t.Errorf("ClusterRole %s grants %v on %s: data planes are the platform's", r.Name, rule.Verbs, res)
				}
			}
		}
	}
	aggregate(t)

	editSA := boundServiceAccount(t, "team-b", "edit")
	viewSA := boundServiceAccount(t, "team-c", "view")
	if err := admin.Create(ctx, tenant("team-c", "my-api")); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		who string
		cl  client.Client
		ns  string
	}{{"admin", adminSA, "team-a"}, {"edit", editSA, "team-b"}} {
		gt := tenant(c.ns, "my-api")
		if err := c.cl.Create(ctx, gt); err != nil {
			t.Errorf("%s: create GatewayTenant: %v", c.who, err)
			continue
		}
		gt.Spec.Environments = []v1alpha1.EnvironmentName{"test"}
		if err := c.cl.Update(ctx, gt); err != nil {
			t.Errorf("%s: update GatewayTenant: %v", c.who, err)
		}
		if err := c.cl.List(ctx, &v1alpha1.GatewayTenantList{}, client.InNamespace(c.ns)); err != nil {
			t.Errorf("%s: list GatewayTenants: %v", c.who, err)
		}
		if err := c.cl.Create(ctx, tenant("team-c", "elsewhere")); !apierrors.IsForbidden(err) {
			t.Errorf("%s: create a GatewayTenant in another namespace: want Forbidden, got %v", c.who, err)
		}
		if err := c.cl.Delete(ctx, gt); err != nil {
			t.Errorf("%s: delete GatewayTenant: %v", c.who, err)
		}
		if err := c.cl.Create(ctx, dataPlane("by-"+c.who)); !apierrors.IsForbidden(err) {
			t.Errorf("%s: create GatewayDataPlane: want Forbidden, got %v", c.who, err)
		}
		if err := c.cl.List(ctx, &v1alpha1.GatewayDataPlaneList{}); !apierrors.IsForbidden(err) {
			t.Errorf("%s: list GatewayDataPlanes: want Forbidden, got %v", c.who, err)
		}
	}

	if err := viewSA.Get(ctx, client.ObjectKey{Namespace: "team-c", Name: "my-api"}, &v1alpha1.GatewayTenant{}); err != nil {
		t.Errorf("view: get GatewayTenant: %v", err)
	}
	if err := viewSA.Create(ctx, tenant("team-c", "by-view")); !apierrors.IsForbidden(err) {
		t.Errorf("view: create GatewayTenant: want Forbidden, got %v", err)
	}
}
