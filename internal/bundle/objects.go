package bundle

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/operator-framework/api/pkg/operators/v1alpha1"
)

// bundleKinds are the kinds of config/default that go into the bundle as objects of their
// own (OLM installs them beside the CSV). Anything else that is not turned into the CSV's
// install strategy is refused: a NetworkPolicy, say, cannot ship in a bundle.
var bundleKinds = map[string]bool{"Service": true, "ClusterRole": true, "ClusterRoleBinding": true, "ConfigMap": true}

// parts are config/default sorted into what the bundle makes of them.
type parts struct {
	crds        []*unstructured.Unstructured
	deployments []appsv1.Deployment
	// permissions and clusterPermissions by ServiceAccount: the rules of the Roles and
	// ClusterRoles bound to it.
	permissions, clusterPermissions []v1alpha1.StrategyDeploymentPermissions
	extras                          []*unstructured.Unstructured
}

// classify turns config/default into the bundle's parts. The Namespace and the
// ServiceAccounts are left out: OLM creates them. Roles and ClusterRoles bound to a
// ServiceAccount become the CSV's permissions; unbound ClusterRoles ship as objects, unbound
// Roles are refused. A ClusterRoleBinding to groups of users (not ServiceAccounts) ships as
// an object, with its ClusterRole.
func classify(objs []*unstructured.Unstructured) (*parts, error) {
	p := &parts{}
	roles := map[string]rbacv1.Role{}
	clusterRoles := map[string]rbacv1.ClusterRole{}
	var bindings []rbacv1.RoleBinding
	var clusterBindings, groupBindings []rbacv1.ClusterRoleBinding
	var others []*unstructured.Unstructured
	for _, o := range objs {
		var err error
		switch o.GetKind() {
		case "Namespace", "ServiceAccount":
		case "CustomResourceDefinition":
			p.crds = append(p.crds, o)
		case "Deployment":
			var d appsv1.Deployment
			err = fromUnstructured(o, &d)
			p.deployments = append(p.deployments, d)
		case "Role":
			var r rbacv1.Role
			err = fromUnstructured(o, &r)
			roles[r.Name] = r
		case "ClusterRole":
			var r rbacv1.ClusterRole
			err = fromUnstructured(o, &r)
			clusterRoles[r.Name] = r
		case "RoleBinding":
			var b rbacv1.RoleBinding
			err = fromUnstructured(o, &b)
			bindings = append(bindings, b)
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			err = fromUnstructured(o, &b)
			if err == nil && forGroups(b.Subjects) {
				others = append(others, o)
				groupBindings = append(groupBindings, b)
				break
			}
			clusterBindings = append(clusterBindings, b)
		default:
			others = append(others, o)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	if len(p.deployments) == 0 {
		return nil, fmt.Errorf("config/default has no Deployment")
	}

	for _, b := range groupBindings {
		if _, ok := clusterRoles[b.RoleRef.Name]; b.RoleRef.Kind != "ClusterRole" || !ok {
			return nil, fmt.Errorf("ClusterRoleBinding %s binds %s %s, which config/default does not hold", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
	}
	bound, err := p.grantBound(roles, clusterRoles, bindings, clusterBindings)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if (o.GetKind() == "ClusterRole" || o.GetKind() == "Role") && !bound[o.GetKind()+"/"+o.GetName()] {
			others = append(others, o)
		}
	}
	for _, o := range others {
		if !bundleKinds[o.GetKind()] {
			return nil, fmt.Errorf("%s %s of config/default cannot ship in an OLM bundle", o.GetKind(), o.GetName())
		}
		o = o.DeepCopy()
		o.SetNamespace("") // OLM installs them in the operator's namespace
		p.extras = append(p.extras, o)
	}
	return p, nil
}

// grantBound turns the bindings into permissions and returns the roles they bind, as
// "Kind/name".
func (p *parts) grantBound(roles map[string]rbacv1.Role, clusterRoles map[string]rbacv1.ClusterRole,
	bindings []rbacv1.RoleBinding, clusterBindings []rbacv1.ClusterRoleBinding) (map[string]bool, error) {
	bound := map[string]bool{}
	for _, b := range bindings {
		r, ok := roles[b.RoleRef.Name]
		if b.RoleRef.Kind != "Role" || !ok {
			return nil, fmt.Errorf("RoleBinding %s binds %s %s, which config/default does not hold", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
		bound["Role/"+r.Name] = true
		if err := grant(&p.permissions, b.Name, b.Subjects, r.Rules); err != nil {
			return nil, err
		}
	}
	for _, b := range clusterBindings {
		r, ok := clusterRoles[b.RoleRef.Name]
		if !ok {
			return nil, fmt.Errorf("ClusterRoleBinding %s binds ClusterRole %s, which config/default does not hold", b.Name, b.RoleRef.Name)
		}
		bound["ClusterRole/"+r.Name] = true
		if err := grant(&p.clusterPermissions, b.Name, b.Subjects, r.Rules); err != nil {
			return nil, err
		}
	}
	return bound, nil
}

// grant adds rules to the permissions of each ServiceAccount subject, leaving out rules the
// account has already, in a stable order (by account, rules as they come).
func grant(perms *[]v1alpha1.StrategyDeploymentPermissions, binding string, subjects []rbacv1.Subject, rules []rbacv1.PolicyRule) error {
	for _, s := range subjects {
		if s.Kind != rbacv1.ServiceAccountKind {
			return fmt.Errorf("binding %s has a subject of kind %s: OLM grants permissions to ServiceAccounts only", binding, s.Kind)
		}
		i := slices.IndexFunc(*perms, func(p v1alpha1.StrategyDeploymentPermissions) bool { return p.ServiceAccountName == s.Name })
		if i < 0 {
			*perms = append(*perms, v1alpha1.StrategyDeploymentPermissions{ServiceAccountName: s.Name})
			i = len(*perms) - 1
		}
		for _, r := range rules {
			if !slices.ContainsFunc((*perms)[i].Rules, func(have rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(have, r) }) {
				(*perms)[i].Rules = append((*perms)[i].Rules, r)
			}
		}
	}
	slices.SortStableFunc(*perms, func(a, b v1alpha1.StrategyDeploymentPermissions) int {
		return strings.Compare(a.ServiceAccountName, b.ServiceAccountName)
	})
	return nil
}

// forGroups says whether a binding's subjects are all groups of users: it grants people, not
// the operator, and OLM installs it as an object of the bundle.
func forGroups(subjects []rbacv1.Subject) bool {
	return len(subjects) > 0 && !slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool { return s.Kind != rbacv1.GroupKind })
}

func fromUnstructured(u *unstructured.Unstructured, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true)
}
