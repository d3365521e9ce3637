package demo

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
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy"
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

func TestMaterialise(t *testing.T) {
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
			desc: "a source the demo cannot play fails",
			tweak: func(s *corev1.PodSpec) {
				s.Volumes[1].Projected.Sources[0] = corev1.VolumeProjection{DownwardAPI: &corev1.DownwardAPIProjection{}}
			},
			wantErr: "only ConfigMap and Secret sources",
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(manager.Scheme())
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
			files, err := materialise(context.Background(), b.Build(), proxyPod(tweaks...), root)
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

func TestLocalise(t *testing.T) {
	cfg, err := proxy.ParseConfig([]byte(`
apiVersion: proxy.gatewaytenant.io/v1alpha1
kind: ProxyConfig
admin: {address: ":9090"}
upstreams:
- name: api
  listen: ":8000"
  address: api.ns.svc:8443
  tls:
    caFiles: [/etc/gatewaytenant/upstreams/api/ca-0/ca.crt, /srv/other.crt]
    verifyDepth: 1
    clientCertificate:
      certFile: /etc/gatewaytenant/upstreams/api/client/tls.crt
      keyFile: /etc/gatewaytenant/upstreams/api/client/tls.key
- name: sans
  listen: ":8001"
  address: sans.ns.svc:443
  tls:
    systemRoots: true
    serverName: sni.example
    subjectAltNames: [{type: URI, uri: "spiffe://cluster.local/ns/ns/sa/sans"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	changes := localise(cfg, "/tmp/pod", "127.0.0.1:4443")

	if cfg.Admin.Address != "127.0.0.1:0" || cfg.Shutdown.DrainDelay.Duration != 0 {
		t.Errorf("admin %q, drainDelay %v: want 127.0.0.1:0 and 0s", cfg.Admin.Address, cfg.Shutdown.DrainDelay)
	}
	api, sans := cfg.Upstreams[0], cfg.Upstreams[1]
	for _, u := range cfg.Upstreams {
		if u.Listen != "127.0.0.1:0" || u.Address != "127.0.0.1:4443" {
			t.Errorf("upstream %s: listen %q address %q", u.Name, u.Listen, u.Address)
		}
	}
	wantCA := []string{"/tmp/pod/etc/gatewaytenant/upstreams/api/ca-0/ca.crt", "/srv/other.crt"}
	if !reflect.DeepEqual(api.TLS.CAFiles, wantCA) {
		t.Errorf("caFiles %v, want %v (only /etc/gatewaytenant moves)", api.TLS.CAFiles, wantCA)
	}
	if cc := api.TLS.ClientCertificate; cc.CertFile != "/tmp/pod/etc/gatewaytenant/upstreams/api/client/tls.crt" ||
		cc.KeyFile != "/tmp/pod/etc/gatewaytenant/upstreams/api/client/tls.key" {
		t.Errorf("client certificate %+v not moved under the pod directory", cc)
	}
	// What is verified stays as rendered: the name defaulted from the rendered address, not
	// the loopback one, and everything else untouched.
	if api.TLS.ServerName != "api.ns.svc" || *api.TLS.VerifyDepth != 1 {
		t.Errorf("api: serverName %q verifyDepth %d, want api.ns.svc and 1", api.TLS.ServerName, *api.TLS.VerifyDepth)
	}
	if sans.TLS.ServerName != "sni.example" || !sans.TLS.SystemRoots || sans.TLS.SubjectAltNames[0].URI != "spiffe://cluster.local/ns/ns/sa/sans" {
		t.Errorf("sans: TLS changed: %+v", sans.TLS)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the adapted configuration is invalid: %v", err)
	}
	if want := 9; len(changes) != want {
		t.Errorf("%d changes reported, want %d:\n%s", len(changes), want, strings.Join(changes, "\n"))
	}
}

func TestLogfmt(t *testing.T) {
	got := logfmt(`time=2026-01-02T03:04:05Z level=INFO msg=listening listener=my-api address=127.0.0.1:8000 note="a b=c"`)
	want := map[string]string{
		"time": "2026-01-02T03:04:05Z", "level": "INFO", "msg": "listening",
		"listener": "my-api", "address": "127.0.0.1:8000", "note": "a b=c",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("logfmt = %v, want %v", got, want)
	}
}
