package controlplane

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness"
)

// gatewayAPIModule is the Go module of the Gateway API types the operator uses; it ships its
// CRDs under config/crd.
const gatewayAPIModule = "sigs.k8s.io/gateway-api"

// GatewayAPIStandard are the Gateway API resources the tests and the demo install: the
// BackendTLSPolicies the operator writes, and the Gateways and routes their status names.
var GatewayAPIStandard = []string{"backendtlspolicies", "gatewayclasses", "gateways", "httproutes", "referencegrants"}

// GatewayAPICRDs returns the files of the standard-channel CRDs of Gateway API resources
// (plural names such as "backendtlspolicies") of the release this build uses, from the Go
// module cache, one file per resource: the experimental channel ships other variants of the
// same CRDs, and envtest keeps only the last one it reads. The installed CRDs carry their own
// CEL rules, so the API server judges every object the operator writes.
func GatewayAPICRDs(resources ...string) ([]string, error) {
	dir, err := gatewayAPIDir()
	if err != nil {
		return nil, err
	}
	files := make([]string, 0, len(resources))
	for _, r := range resources {
		f := filepath.Join(dir, "config", "crd", "standard", "gateway.networking.k8s.io_"+r+".yaml")
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("no standard CRD of gateway.networking.k8s.io %s: %w", r, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// gatewayAPIDir is the Gateway API module's directory in the module cache: found through the
// checkout's go.mod when there is one, else through the version this binary was built with
// (bin/demo runs without the source tree).
func gatewayAPIDir() (string, error) {
	if dir, err := harness.ModuleDir(gatewayAPIModule); err == nil {
		return dir, nil
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", fmt.Errorf("locating %s: no checkout and no build information", gatewayAPIModule)
	}
	version := ""
	for _, d := range info.Deps {
		if d.Path == gatewayAPIModule {
			version = d.Version
		}
	}
	if version == "" {
		return "", fmt.Errorf("locating %s: this binary was not built with it", gatewayAPIModule)
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			return "", fmt.Errorf("locating the Go module cache (go env GOMODCACHE): %w", err)
		}
		cache = strings.TrimSpace(string(out))
	}
	return filepath.Join(cache, gatewayAPIModule+"@"+version), nil
}

// ReportOnBackendTLSPolicy plays a Gateway API implementation, which envtest does not run: it
// writes status.ancestors of the BackendTLSPolicy key as the controller named controller
// would for one Gateway, with conditions (their observedGeneration and transition time set
// to the policy's current generation and now).
func ReportOnBackendTLSPolicy(ctx context.Context, c client.Client, key client.ObjectKey, gateway types.NamespacedName, controller string, conds ...metav1.Condition) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := &gwapiv1.BackendTLSPolicy{}
		if err := c.Get(ctx, key, p); err != nil {
			return err
		}
		a := gwapiv1.PolicyAncestorStatus{
			AncestorRef:    gwapiv1.ParentReference{Namespace: ptr.To(gwapiv1.Namespace(gateway.Namespace)), Name: gwapiv1.ObjectName(gateway.Name)},
			ControllerName: gwapiv1.GatewayController(controller),
		}
		for _, cond := range conds {
			cond.ObservedGeneration, cond.LastTransitionTime = p.Generation, metav1.Now()
			a.Conditions = append(a.Conditions, cond)
		}
		p.Status.Ancestors = []gwapiv1.PolicyAncestorStatus{a}
		return c.Status().Update(ctx, p)
	})
}
