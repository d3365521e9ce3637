// Package e2e plays the story of `make demo` (internal/demo) on a local control plane with
// the real manager, the real proxy binary and a real TLS upstream on loopback, and asserts
// every step.
package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/demo"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/proxyrun"
)

var (
	cluster   *demo.Cluster
	story     *demo.Story
	k8sClient client.Client // uncached: assertions see the API server
)

func TestEndToEnd(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "End to end: the story of make demo")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))

	work, err := os.MkdirTemp("", "gatewaytenant-e2e-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, work)

	By("building the proxy binary of this checkout")
	proxyBin, err := proxyrun.Build(ctx, work)
	Expect(err).NotTo(HaveOccurred())

	By("starting the control plane and the manager")
	cluster, err = demo.StartCluster(context.Background(), work)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)
	k8sClient = cluster.Client

	story = &demo.Story{Client: cluster.Client, Watch: cluster.Watch, Out: GinkgoWriter, ProxyBinary: proxyBin, WorkDir: work, ProxyAdmin: &cluster.ProxyAdmin}
	DeferCleanup(story.Close)
}, NodeTimeout(20*time.Minute))
