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
// wildcards anywhere, and nothing but reads on Secrets.
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
	var secretRules int
	for _, rule := range role.Rules {
		for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames, rule.NonResourceURLs} {
			if slices.Contains(list, "*") {
				t.Errorf("wildcard in rule %+v", rule)
			}
		}
		if slices.Contains(rule.Resources, "secrets") {
			secretRules++
			for _, verb := range rule.Verbs {
				if !slices.Contains([]string{"get", "list", "watch"}, verb) {
					t.Errorf("verb %q on secrets: the operator only reads them", verb)
				}
			}
		}
	}
	if secretRules == 0 {
		t.Error("no rule for secrets: the operator must read client certificates")
	}
}
