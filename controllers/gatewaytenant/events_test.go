package gatewaytenant

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// The troubleshooting section of docs/install.md names every reason of the events the
// reconciler records about its children.
func TestEventReasonsDocumented(t *testing.T) {
	data, err := os.ReadFile("../../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	_, troubleshooting, _ := strings.Cut(string(data), "## Troubleshooting")
	for _, r := range []string{v1alpha1.EventReasonCreated, v1alpha1.EventReasonUpdated, v1alpha1.EventReasonDeleted,
		v1alpha1.EventReasonApplyFailed, v1alpha1.ReasonVerified} {
		if !strings.Contains(troubleshooting, "`"+r+"`") {
			t.Errorf("docs/install.md, Troubleshooting, does not name event reason %s", r)
		}
	}
}

// An event lists what was written, and counts what would not fit the API server's 1 KiB.
func TestListNote(t *testing.T) {
	if got := listNote("created", []string{"NetworkPolicy a", "Deployment b"}); got != "created NetworkPolicy a, Deployment b" {
		t.Errorf("got %q", got)
	}
	var many []string
	for i := range 64 {
		many = append(many, fmt.Sprintf("NetworkPolicy tenant.upstream-%02d-from-gateway", i))
	}
	got := listNote("deleted", many)
	if len(got) >= 1024 || !strings.HasPrefix(got, "deleted NetworkPolicy tenant.upstream-00-from-gateway,") || !strings.Contains(got, " more") {
		t.Errorf("%d bytes: %q", len(got), got)
	}
}
