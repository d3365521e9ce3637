package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
)

const (
	tenantName     = "tenant" // every tenant has this name, in its own namespace
	upstreamName   = "api"
	caConfigMap    = "upstream-ca"
	clientSecret   = "client-cert"
	lastApplied    = "kubectl.kubernetes.io/last-applied-configuration"
	noiseValueSize = 10 << 10
)

// parallel runs fn(i) for i in [0, n) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// tlsMaterial is one CA and a client certificate it issued, shared by every TLS tenant.
type tlsMaterial struct {
	caPEM, certPEM, keyPEM []byte
}

func newTLSMaterial() (*tlsMaterial, error) {
	root, err := pki.NewRoot("bench upstream CA")
	if err != nil {
		return nil, err
	}
	leaf, err := root.NewLeaf("bench client", pki.ClientAuth())
	if err != nil {
		return nil, err
	}
	return &tlsMaterial{caPEM: root.CertPEM(), certPEM: leaf.ChainPEM(), keyPEM: leaf.KeyPEM()}, nil
}

// tenantObjects are what a tenant's namespace holds before the operator runs: the upstream
// Service, for TLS its CA ConfigMap and client certificate Secret, and the GatewayTenant.
// withSupport false leaves out everything but the tenant (the floor needs only that).
func tenantObjects(ns string, tls *tlsMaterial, withSupport bool) []client.Object {
	port := int32(8080)
	if tls != nil {
		port = 8443
	}
	up := v1alpha1.Upstream{Name: upstreamName, Host: upstreamName + "." + ns + ".svc", Port: port}
	var out []client.Object
	if withSupport {
		out = append(out, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: upstreamName, Namespace: ns},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": upstreamName},
				Ports:    []corev1.ServicePort{{Name: "api", Port: port, TargetPort: intstr.FromInt32(port), Protocol: corev1.ProtocolTCP}},
			},
		})
	}
	if tls != nil {
		up.TLS = &v1alpha1.UpstreamTLS{
			Validation:           v1alpha1.UpstreamTLSValidation{CACertificateRefs: []v1alpha1.CACertificateReference{{Name: caConfigMap}}},
			ClientCertificateRef: &v1alpha1.SecretReference{Name: clientSecret},
		}
		if withSupport {
			out = append(out,
				&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: caConfigMap, Namespace: ns}, Data: map[string]string{"ca.crt": string(tls.caPEM)}},
				&corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Name: clientSecret, Namespace: ns}, Type: corev1.SecretTypeTLS,
					Data: map[string][]byte{corev1.TLSCertKey: tls.certPEM, corev1.TLSPrivateKeyKey: tls.keyPEM},
				})
		}
	}
	return append(out, &v1alpha1.GatewayTenant{
		ObjectMeta: metav1.ObjectMeta{Name: tenantName, Namespace: ns},
		Spec:       v1alpha1.GatewayTenantSpec{Upstreams: []v1alpha1.Upstream{up}},
	})
}

// createNamespace creates a namespace and the objects in it; it returns the tenant's UID.
func createNamespace(ctx context.Context, c client.Client, ns string, objs []client.Object) (types.UID, error) {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return "", fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	var uid types.UID
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return "", fmt.Errorf("creating %T %s/%s: %w", o, ns, o.GetName(), err)
		}
		if t, ok := o.(*v1alpha1.GatewayTenant); ok {
			uid = t.UID
		}
	}
	return uid, nil
}

// noiseObjects are an unrelated application's namespace as a busy cluster has thousands of:
// 5 ConfigMaps and 5 Secrets of 10 KiB, 2 Services with their EndpointSlices and a
// Deployment, each with the
// last-applied annotation kubectl apply leaves (which holds the object again).
func noiseObjects(ns string) []client.Object {
	value := strings.Repeat("x", noiseValueSize)
	var out []client.Object
	for i := 0; i < 5; i++ {
		out = append(out,
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("config-%d", i), Namespace: ns}, Data: map[string]string{"data": value}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("secret-%d", i), Namespace: ns}, Data: map[string][]byte{"data": []byte(value)}})
	}
	labels := map[string]string{"app": "noise"}
	for n, name := range []string{"web", "metrics"} {
		out = append(out, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
		}, noiseSlice(ns, name, n))
	}
	out = append(out, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "registry.example/web:1.0", Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					Env: []corev1.EnvVar{{Name: "MODE", Value: "production"}},
				}}},
			},
		},
	})
	for _, o := range out {
		if _, ok := o.(*discoveryv1.EndpointSlice); ok {
			continue // the EndpointSlice controller's, not applied by anyone
		}
		o.SetAnnotations(map[string]string{lastApplied: lastAppliedOf(o)})
	}
	return out
}

// noiseSlice is the EndpointSlice the EndpointSlice controller (which this control plane does
// not run) would keep for a noise Service: the Deployment's two pods.
func noiseSlice(ns, svc string, n int) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: svc + "-x1", Namespace: ns, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io", "app": "noise"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for r := range 2 {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{fmt.Sprintf("10.64.%d.%d", (n*2+r)%250, r+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			NodeName:   ptr.To("node-1"),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("web-%d", r)},
		})
	}
	return s
}

func lastAppliedOf(o client.Object) string {
	data, err := json.Marshal(o)
	if err != nil {
		panic(err) // built here, always marshals
	}
	return string(data)
}

// createNoise creates n unrelated namespaces.
func createNoise(ctx context.Context, c client.Client, n, workers int) error {
	return parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		_, err := createNamespace(ctx, c, fmt.Sprintf("noise-%05d", i), noiseObjects(fmt.Sprintf("noise-%05d", i)))
		return err
	})
}

// createTenants creates n tenant namespaces named prefix-00000... and returns the tenants'
// UIDs by namespace.
func createTenants(ctx context.Context, c client.Client, prefix string, n, workers int, tls *tlsMaterial, withSupport bool) (map[string]types.UID, error) {
	var mu sync.Mutex
	uids := make(map[string]types.UID, n)
	err := parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		ns := tenantNamespace(prefix, i)
		uid, err := createNamespace(ctx, c, ns, tenantObjects(ns, tls, withSupport))
		mu.Lock()
		uids[ns] = uid
		mu.Unlock()
		return err
	})
	return uids, err
}

func tenantNamespace(prefix string, i int) string { return fmt.Sprintf("%s-%05d", prefix, i) }
