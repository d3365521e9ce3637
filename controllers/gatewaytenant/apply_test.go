package gatewaytenant

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// stored is what the API server keeps of a desired object: the same, plus its defaults.
func storedDeployment() *appsv1.Deployment {
	up := tlsResult("api", 8443)
	tenant := tenantWith(up)
	dep := proxyDeployment(tenant, proxyUpstreams(tenant, []upstreamResult{up}), proxyConfig{data: []byte("cfg")}, ProxySettings{Image: "img:1", Replicas: 2}, nil)
	dep.Spec.RevisionHistoryLimit = ptr.To[int32](10)
	dep.Spec.ProgressDeadlineSeconds = ptr.To[int32](600)
	dep.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
	pod := &dep.Spec.Template.Spec
	pod.RestartPolicy, pod.DNSPolicy, pod.SchedulerName = corev1.RestartPolicyAlways, corev1.DNSClusterFirst, "default-scheduler"
	pod.TerminationGracePeriodSeconds = ptr.To[int64](30)
	c := &pod.Containers[0]
	c.TerminationMessagePath, c.ImagePullPolicy = "/dev/termination-log", corev1.PullIfNotPresent
	c.LivenessProbe.TimeoutSeconds, c.LivenessProbe.FailureThreshold = 1, 3
	c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("67108864") // 64Mi, written otherwise
	return dep
}

func TestCoversIgnoresDefaultsAndCatchesEveryEdit(t *testing.T) {
	desiredUp := tlsResult("api", 8443)
	tenant := tenantWith(desiredUp)
	desired := proxyDeployment(tenant, proxyUpstreams(tenant, []upstreamResult{desiredUp}), proxyConfig{data: []byte("cfg")}, ProxySettings{Image: "img:1", Replicas: 2}, nil)
	for _, c := range []struct {
		desc  string
		edit  func(*appsv1.Deployment)
		wants bool
	}{
		{"as stored, with the API server's defaults", func(*appsv1.Deployment) {}, true},
		{"kubectl rollout restart annotates the pod template", func(d *appsv1.Deployment) {
			d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] = "now"
		}, true},
		{"image edited", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "evil:1" }, false},
		{"replicas edited", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](0) }, false},
		{"token automount switched on", func(d *appsv1.Deployment) { d.Spec.Template.Spec.AutomountServiceAccountToken = ptr.To(true) }, false},
		{"a sidecar added", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar"})
		}, false},
		{"an argument added", func(d *appsv1.Deployment) {
			c := &d.Spec.Template.Spec.Containers[0]
			c.Args = append(c.Args, "--debug")
		}, false},
		{"a limit added to the resources", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceEphemeralStorage] = resource.MustParse("1Gi")
		}, false},
		{"config hash changed", func(d *appsv1.Deployment) { d.Spec.Template.Annotations[annotationConfigHash] = "x" }, false},
	} {
		t.Run(c.desc, func(t *testing.T) {
			existing := storedDeployment()
			c.edit(existing)
			if got := covers(content(desired)[0], content(existing)[0]); got != c.wants {
				t.Errorf("covers = %v, want %v", got, c.wants)
			}
		})
	}
}

func TestCoversNetworkPolicies(t *testing.T) {
	peers := gatewayPeers([]v1alpha1.DataPlaneEnvironment{
		{Name: "test", NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"environment": "test", "name": "264e6f"}}},
	})
	res := upstreamResult{upstream: v1alpha1.Upstream{Name: "u"}, podSelector: map[string]string{"app": "u"},
		ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(8443))}}}
	desired := upstreamNetworkPolicy(tenantWith(), res, peers)
	for _, c := range []struct {
		desc  string
		edit  func(*networkingv1.NetworkPolicy)
		wants bool
	}{
		{"as written", func(*networkingv1.NetworkPolicy) {}, true},
		{"an allow-all rule added", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
		}, false},
		{"a peer widened", func(np *networkingv1.NetworkPolicy) {
			delete(np.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels, "name")
		}, false},
		{"the pod selector narrowed", func(np *networkingv1.NetworkPolicy) { np.Spec.PodSelector.MatchLabels["tier"] = "x" }, false},
		{"a port changed", func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].Ports[0].Port = ptr.To(intstr.FromInt32(1)) }, false},
		{"egress added to the policy types", func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}, false},
	} {
		t.Run(c.desc, func(t *testing.T) {
			existing := desired.DeepCopy()
			c.edit(existing)
			if got := covers(content(desired)[0], content(existing)[0]); got != c.wants {
				t.Errorf("covers = %v, want %v", got, c.wants)
			}
		})
	}
}

func TestCoversConfigMapsAndServiceAccounts(t *testing.T) {
	cm := &corev1.ConfigMap{Data: map[string]string{"proxy.yaml": "a"}}
	for _, c := range []struct {
		desc     string
		existing client.Object
		desired  client.Object
		wants    bool
	}{
		{"same data", &corev1.ConfigMap{Data: map[string]string{"proxy.yaml": "a"}}, cm, true},
		{"data edited", &corev1.ConfigMap{Data: map[string]string{"proxy.yaml": "b"}}, cm, false},
		{"a key added", &corev1.ConfigMap{Data: map[string]string{"proxy.yaml": "a", "x": "y"}}, cm, false},
		{"token automount off as asked", &corev1.ServiceAccount{AutomountServiceAccountToken: ptr.To(false)},
			&corev1.ServiceAccount{AutomountServiceAccountToken: ptr.To(false)}, true},
		{"token automount switched on", &corev1.ServiceAccount{AutomountServiceAccountToken: ptr.To(true)},
			&corev1.ServiceAccount{AutomountServiceAccountToken: ptr.To(false)}, false},
		{"token automount unset", &corev1.ServiceAccount{},
			&corev1.ServiceAccount{AutomountServiceAccountToken: ptr.To(false)}, false},
	} {
		t.Run(c.desc, func(t *testing.T) {
			existing := c.existing.DeepCopyObject().(client.Object)
			if changed := merge(c.desired, existing); changed == c.wants {
				t.Fatalf("merge changed = %v, want %v", changed, !c.wants)
			}
			if !covers(content(c.desired)[0], content(existing)[0]) || merge(c.desired, existing) {
				t.Errorf("after merge, %+v still differs from %+v", existing, c.desired)
			}
		})
	}
}

func TestMergeWritesLabelsAndContentThrough(t *testing.T) {
	desired := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "1"}}, Data: map[string]string{"proxy.yaml": "new"}}
	existing := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "0", "other": "kept"}},
		Data:       map[string]string{"proxy.yaml": "old"},
		BinaryData: map[string][]byte{"junk": nil},
	}
	if !merge(desired, existing) {
		t.Fatal("merge saw no change")
	}
	if existing.Data["proxy.yaml"] != "new" || existing.BinaryData != nil {
		t.Errorf("data %v binaryData %v, want the desired data and no binary data", existing.Data, existing.BinaryData)
	}
	if existing.Labels["a"] != "1" || existing.Labels["other"] != "kept" {
		t.Errorf("labels %v, want a=1 and other labels kept", existing.Labels)
	}
	if merge(desired, existing) {
		t.Error("a second merge changed something")
	}
}
