package manager

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestRBACIsLeastPrivilege reads the ClusterRole generated from the RBAC markers: no
// wildcards anywhere, no Secret at all (the kubelet mounts them into the proxy, which
// reports on them), and nothing but reads on ClusterTrustBundles.
func TestRBACIsLeastPrivilege(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		t.Fatal(err)
	}
	if len(role.Rules) == 0 {
		t.Fatal("no rules")
	}
	var bundleRules int
	for _, rule := range role.Rules {
		for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames, rule.NonResourceURLs} {
			if slices.Contains(list, "*") {
				t.Errorf("wildcard in rule %+v", rule)
			}
		}
		if slices.Contains(rule.Resources, "secrets") {
			t.Errorf("rule %+v grants Secrets: the operator reads none", rule)
		}
		if slices.Contains(rule.Resources, "clustertrustbundles") {
			bundleRules++
			if !slices.Equal(rule.Verbs, []string{"get", "list", "watch"}) {
				t.Errorf("verbs %v on clustertrustbundles: the operator only reads them", rule.Verbs)
			}
		}
	}
	if bundleRules != 1 {
		t.Errorf("%d rules for clustertrustbundles, want one: tenants trust them as CA sources", bundleRules)
	}
}
