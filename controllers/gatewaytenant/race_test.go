package gatewaytenant_test

import (
	"context"
	"strings"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// racingClient reads like the API server, except that the first read of the NetworkPolicy
// named policy races a hand edit: someone else changes the stored object just after the
// read, and the copy read looks drifted, so the reconcile writes it back on a stale
// resourceVersion and the API server answers 409 Conflict.
func racingClient(policy client.ObjectKey) client.Client {
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: manager.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	raced := false
	return interceptor.NewClient(c, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := c.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			np, ok := obj.(*networkingv1.NetworkPolicy)
			if !ok || key != policy || raced {
				return nil
			}
			raced = true
			edit := &networkingv1.NetworkPolicy{}
			Expect(k8sClient.Get(ctx, key, edit)).To(Succeed())
			edit.Annotations = map[string]string{"edited-by": "hand"}
			Expect(k8sClient.Update(ctx, edit)).To(Succeed())
			np.Spec.Ingress = nil // what the reader saw had drifted
			return nil
		},
	})
}

// errorLog records the messages of errors logged through it.
func errorLog(errs *[]string) logr.Logger {
	return funcr.New(func(prefix, args string) {
		if strings.Contains(args, `"error"`) {
			*errs = append(*errs, args)
		}
	}, funcr.Options{Verbosity: 10})
}

var _ = Describe("A hand edit racing a repair (409 Conflict)", func() {
	It("is retried quietly: no error, no Warning event, no error logged", func() {
		ns := newNamespace()
		newService(ns, "api")
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "api")})
		expectReady(t)
		policy := client.ObjectKey{Namespace: ns, Name: "my-api.api-from-gateway"}

		recorder := events.NewFakeRecorder(100)
		racing := racingClient(policy)
		r := &gatewaytenant.Reconciler{Client: racing, CertReader: racing, APIReader: racing, Scheme: manager.Scheme(),
			Recorder: recorder, Clock: clock.RealClock{}, ExpiryWarning: expiryWarning,
			Proxy: gatewaytenant.ProxySettings{Image: proxyImage, Replicas: 2}}
		var logged []string
		rctx := ctrl.LoggerInto(ctx, errorLog(&logged))
		res, err := r.Reconcile(rctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(t)})

		Expect(err).NotTo(HaveOccurred(), "a lost race is not an error")
		Expect(res.RequeueAfter).To(BeNumerically(">", 0), "the reconcile is tried again")
		close(recorder.Events)
		for e := range recorder.Events {
			Expect(e).NotTo(HavePrefix("Warning"), "event %q", e)
		}
		Expect(logged).To(BeEmpty())

		By("converging on the next pass")
		_, err = r.Reconcile(rctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(t)})
		Expect(err).NotTo(HaveOccurred())
		Expect(logged).To(BeEmpty())
		expectReady(t)
	})
})
