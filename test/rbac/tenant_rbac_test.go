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
	"slices"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
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

// shippedTenantRBAC is what the plain install ships for tenants: the ClusterRoles aggregated
// into the built-in roles, and the ClusterRoles and bindings it grants to every
// authenticated user (reading GatewayDataPlanes).
func shippedTenantRBAC(t *testing.T) []client.Object {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := bundle.Render(filepath.Join(root, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]*rbacv1.ClusterRole{}
	var bindings []*rbacv1.ClusterRoleBinding
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole":
			r := &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, r); err != nil {
				t.Fatal(err)
			}
			roles[r.Name] = r
		case "ClusterRoleBinding":
			b := &rbacv1.ClusterRoleBinding{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, b); err != nil {
				t.Fatal(err)
			}
			if slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return s.Kind == rbacv1.GroupKind }) {
				bindings = append(bindings, b)
			}
		}
	}
	var out []client.Object
	for _, r := range roles {
		l := r.Labels
		if l[aggregateTo+"admin"] != "" || l[aggregateTo+"edit"] != "" || l[aggregateTo+"view"] != "" {
			out = append(out, r)
		}
	}
	for _, b := range bindings {
		r, ok := roles[b.RoleRef.Name]
		if !ok {
			t.Fatalf("ClusterRoleBinding %s binds ClusterRole %s, which config/default lacks", b.Name, b.RoleRef.Name)
		}
		if !slices.Contains(out, client.Object(r)) {
			out = append(out, r)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		t.Fatal("config/default ships no ClusterRole for tenants")
	}
	return out
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
// read and write GatewayTenants, view reads them, and everybody of the namespace reads
// GatewayDataPlanes (their names and environments go into a tenant's spec) and nobody
// writes them.
func TestTenantRoles(t *testing.T) {
	aggregate(t)
	adminSA := boundServiceAccount(t, "team-a", "admin")
	err := adminSA.Create(ctx, tenant("team-a", "before-roles"))
	if !apierrors.IsForbidden(err) {
		t.Fatalf("without the shipped roles, want Forbidden for a namespace admin, got %v", err)
	}

	for _, o := range shippedTenantRBAC(t) {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		r, ok := o.(*rbacv1.ClusterRole)
		if !ok {
			continue
		}
		for _, rule := range r.Rules {
			for _, res := range rule.Resources {
				if res == "*" || res == "gatewaydataplanes" && slices.ContainsFunc(rule.Verbs, func(v string) bool { return !readVerbs[v] }) {
					t.Errorf("ClusterRole %s grants %v on %s: data planes are the platform's to write", r.Name, rule.Verbs, res)
				}
			}
		}
	}
	aggregate(t)
	if err := admin.Create(ctx, dataPlane("aps-test")); err != nil {
		t.Fatal(err)
	}

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
	}

	if err := viewSA.Get(ctx, client.ObjectKey{Namespace: "team-c", Name: "my-api"}, &v1alpha1.GatewayTenant{}); err != nil {
		t.Errorf("view: get GatewayTenant: %v", err)
	}
	if err := viewSA.Create(ctx, tenant("team-c", "by-view")); !apierrors.IsForbidden(err) {
		t.Errorf("view: create GatewayTenant: want Forbidden, got %v", err)
	}

	// What the README tells a tenant whose data plane is not found: kubectl get
	// gatewaydataplanes. Reading works for every role; no write verb does.
	for _, c := range []struct {
		who string
		cl  client.Client
	}{{"admin", adminSA}, {"edit", editSA}, {"view", viewSA}} {
		planes := &v1alpha1.GatewayDataPlaneList{}
		if err := c.cl.List(ctx, planes); err != nil || len(planes.Items) == 0 {
			t.Errorf("%s: list GatewayDataPlanes: %d items, %v", c.who, len(planes.Items), err)
		}
		if err := c.cl.Get(ctx, client.ObjectKey{Name: "aps-test"}, &v1alpha1.GatewayDataPlane{}); err != nil {
			t.Errorf("%s: get GatewayDataPlane: %v", c.who, err)
		}
		for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"} {
			if allowed := may(t, c.cl, verb, "gatewaydataplanes"); allowed != readVerbs[verb] {
				t.Errorf("%s: %s gatewaydataplanes allowed=%v, want %v", c.who, verb, allowed, readVerbs[verb])
			}
		}
	}
}

// readVerbs are the verbs that only read.
var readVerbs = map[string]bool{"get": true, "list": true, "watch": true}

// may asks the API server whether the client's user may verb the cluster-scoped resource of
// gatewaytenant.io.
func may(t *testing.T, cl client.Client, verb, resource string) bool {
	t.Helper()
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Group: v1alpha1.GroupVersion.Group, Resource: resource, Verb: verb},
	}}
	if err := cl.Create(ctx, review); err != nil {
		t.Fatal(err)
	}
	return review.Status.Allowed
}
