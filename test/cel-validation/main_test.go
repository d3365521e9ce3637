// Package celvalidation tests the CRD schemas (patterns, bounds, CEL rules) against the real
// API server: every shape error is refused at admission with a message naming the field.
package celvalidation

import (
	"context"
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

const namespace = "abc123-prod"

var (
	ctx       = context.Background()
	k8sClient client.Client
	cfg       *rest.Config // the control plane's admin
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	env, err := controlplane.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	cfg = env.Config
	k8sClient, err = client.New(env.Config, client.Options{Scheme: manager.Scheme()})
	if err == nil {
		err = k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
