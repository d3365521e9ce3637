package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// proxyPod is a Deployment shaped like the operator's proxy: a ConfigMap volume for the
// configuration and a projected volume for one upstream's CA and client certificate.
func proxyPod(tweaks ...func(*corev1.PodSpec)) *appsv1.Deployment {
	spec := corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "sidecar", VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/etc/gatewaytenant/sidecar"}}},
			{Name: "proxy", VolumeMounts: []corev1.VolumeMount{
				{Name: "config", MountPath: "/etc/gatewaytenant/config"},
				{Name: "up-0", MountPath: "/etc/gatewaytenant/upstreams/api"},
				{Name: "scratch", MountPath: "/tmp"},
			}},
		},
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "t-proxy"},
				Items:                []corev1.KeyToPath{{Key: "proxy.yaml", Path: "proxy.yaml"}},
			}}},
			{Name: "up-0", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: "ca"},
					Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca-0/ca.crt"}},
				}},
				{Secret: &corev1.SecretProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: "client"},
					Items: []corev1.KeyToPath{
						{Key: "tls.crt", Path: "client/tls.crt"},
						{Key: "tls.key", Path: "client/tls.key"},
					},
				}},
			}}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
	for _, t := range tweaks {
		t(&spec)
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "t-proxy", Namespace: "ns"},
		Spec:       appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: spec}},
	}
}

func referenced() []corev1.ConfigMap {
	return []corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "t-proxy", Namespace: "ns"}, Data: map[string]string{"proxy.yaml": "cfg", "other": "x"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: "ns"}, Data: map[string]string{"ca.crt": "CA"}},
	}
}

func TestMount(t *testing.T) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "ns"},
		Data:       map[string][]byte{"tls.crt": []byte("CERT"), "tls.key": []byte("KEY")},
	}
	tests := []struct {
		desc      string
		tweak     func(*corev1.PodSpec)
		noSecret  bool
		wantFiles map[string]string // path in the pod -> content
		wantErr   string
	}{
		{
			desc: "projected ConfigMap and Secret items, ConfigMap volume items, emptyDir",
			wantFiles: map[string]string{
				"/etc/gatewaytenant/config/proxy.yaml":            "cfg",
				"/etc/gatewaytenant/upstreams/api/ca-0/ca.crt":    "CA",
				"/etc/gatewaytenant/upstreams/api/client/tls.crt": "CERT",
				"/etc/gatewaytenant/upstreams/api/client/tls.key": "KEY",
			},
		},
		{
			desc: "a volume without items gets every key",
			tweak: func(s *corev1.PodSpec) {
				s.Volumes[0].ConfigMap.Items = nil
				s.Containers[1].VolumeMounts = s.Containers[1].VolumeMounts[:1]
			},
			wantFiles: map[string]string{"/etc/gatewaytenant/config/proxy.yaml": "cfg", "/etc/gatewaytenant/config/other": "x"},
		},
		{
			desc: "a subPath mount gets that one file at the mount path",
			tweak: func(s *corev1.PodSpec) {
				s.Containers[1].VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/etc/gatewaytenant/proxy.yaml", SubPath: "proxy.yaml"}}
			},
			wantFiles: map[string]string{"/etc/gatewaytenant/proxy.yaml": "cfg"},
		},
		{
			desc:     "an optional source that does not exist is skipped",
			noSecret: true,
			tweak: func(s *corev1.PodSpec) {
				s.Volumes[1].Projected.Sources[1].Secret.Optional = ptr.To(true)
			},
			wantFiles: map[string]string{
				"/etc/gatewaytenant/config/proxy.yaml":         "cfg",
				"/etc/gatewaytenant/upstreams/api/ca-0/ca.crt": "CA",
			},
		},
		{desc: "a required source that does not exist fails", noSecret: true, wantErr: `reading Secret client`},
		{
			desc:    "a missing key fails",
			tweak:   func(s *corev1.PodSpec) { s.Volumes[1].Projected.Sources[0].ConfigMap.Items[0].Key = "tls.crt" },
			wantErr: `ConfigMap ca has no key "tls.crt"`,
		},
		{
			desc:    "a mount of an undeclared volume fails",
			tweak:   func(s *corev1.PodSpec) { s.Containers[1].VolumeMounts[0].Name = "nope" },
			wantErr: `volume mount "nope" names no volume`,
		},
		{
			desc: "an item path leaving the volume fails",
			tweak: func(s *corev1.PodSpec) {
				s.Volumes[1].Projected.Sources[0].ConfigMap.Items[0].Path = "../ca.crt"
			},
			wantErr: `item path "../ca.crt"`,
		},
		{
			desc: "a source the harness cannot play fails",
			tweak: func(s *corev1.PodSpec) {
				s.Volumes[1].Projected.Sources[0] = corev1.VolumeProjection{DownwardAPI: &corev1.DownwardAPIProjection{}}
			},
			wantErr: "only ConfigMap, Secret, clusterTrustBundle and podCertificate sources",
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(scheme.Scheme)
			for _, cm := range referenced() {
				b = b.WithObjects(cm.DeepCopy())
			}
			if !tc.noSecret {
				b = b.WithObjects(secret.DeepCopy())
			}
			var tweaks []func(*corev1.PodSpec)
			if tc.tweak != nil {
				tweaks = append(tweaks, tc.tweak)
			}
			root := t.TempDir()
			dep := proxyPod(tweaks...)
			_, files, err := Mount(context.Background(), b.Build(), dep.Namespace, &dep.Spec.Template.Spec, "proxy", root)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, f := range files {
				data, err := os.ReadFile(filepath.Join(root, f.Path))
				if err != nil {
					t.Fatalf("%s (%s) listed but not written: %v", f.Path, f.Source, err)
				}
				got[f.Path] = string(data)
			}
			if !reflect.DeepEqual(got, tc.wantFiles) {
				t.Errorf("files %v, want %v", got, tc.wantFiles)
			}
		})
	}
}
