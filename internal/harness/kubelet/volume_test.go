package kubelet

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// The kubelet's timestamped directory names, e.g. "..2026_01_02_15_04_05.123456789".
var timestamped = regexp.MustCompile(`^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$`)

// entries are the names at the root of dir and, for symlinks, their targets ("" otherwise).
func entries(t *testing.T, dir string) map[string]string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, de := range des {
		target, err := os.Readlink(filepath.Join(dir, de.Name()))
		if err != nil {
			target = ""
		}
		out[de.Name()] = target
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The layout is the kubelet's: one timestamped directory, "..data" pointing to it, and each
// top-level entry (a file or the first directory of a nested path) a symlink through "..data".
func TestVolumeLayoutIsTheKubelets(t *testing.T) {
	dir := t.TempDir()
	v, err := writeVolume(dir, map[string]Item{
		"ca-0/ca.crt":    {Data: []byte("CA 1")},
		"client/tls.crt": {Data: []byte("CERT 1")},
		"client/tls.key": {Data: []byte("KEY 1"), Mode: 0o600},
		"proxy.yaml":     {Data: []byte("cfg 1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := entries(t, dir)
	var ts string
	for name, target := range got {
		if timestamped.MatchString(name) {
			if ts != "" {
				t.Errorf("two timestamped directories: %s and %s", ts, name)
			}
			ts = name
			if target != "" {
				t.Errorf("%s is a symlink to %s, want a directory", name, target)
			}
		}
	}
	want := map[string]string{
		ts:           "",
		"..data":     ts,
		"ca-0":       "..data/ca-0",
		"client":     "..data/client",
		"proxy.yaml": "..data/proxy.yaml",
	}
	if ts == "" || !maps.Equal(got, want) {
		t.Fatalf("volume root %v, want %v", got, want)
	}
	if s := readFile(t, v.Path("client/tls.crt")); s != "CERT 1" {
		t.Errorf("client/tls.crt = %q", s)
	}
	for item, mode := range map[string]os.FileMode{"client/tls.key": 0o600, "ca-0/ca.crt": 0o644} {
		st, err := os.Stat(v.Path(item))
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v (%v), want %v", item, st.Mode().Perm(), err, mode)
		}
	}
}

// An update swaps "..data" to a new timestamped directory, removes the old one and the
// entries that left the payload, and keeps the visible symlinks, which now resolve to the new
// content.
func TestVolumeUpdateSwapsData(t *testing.T) {
	dir := t.TempDir()
	v, err := WriteVolume(dir, map[string][]byte{"ca-0/ca.crt": []byte("CA 1"), "gone/x": []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	before := entries(t, dir)["..data"]
	for i, content := range []string{"CA 2", "CA 3", "CA 4"} {
		if err := v.Update(map[string][]byte{"ca-0/ca.crt": []byte(content)}); err != nil {
			t.Fatal(err)
		}
		got := entries(t, dir)
		now := got["..data"]
		if now == before || !timestamped.MatchString(now) {
			t.Fatalf("update %d: ..data -> %q, was %q", i+1, now, before)
		}
		want := map[string]string{now: "", "..data": now, "ca-0": "..data/ca-0"}
		if !maps.Equal(got, want) {
			t.Fatalf("update %d: volume root %v, want %v", i+1, got, want)
		}
		if s := readFile(t, v.Path("ca-0/ca.crt")); s != content {
			t.Fatalf("update %d: ca-0/ca.crt = %q, want %q", i+1, s, content)
		}
		before = now
	}
}

func TestVolumeRefusesPathsOutsideIt(t *testing.T) {
	for _, p := range []string{"/etc/passwd", "../x", "a/../../x", "..data", "a//b", ""} {
		if _, err := WriteVolume(t.TempDir(), map[string][]byte{p: []byte("x")}); err == nil {
			t.Errorf("item path %q accepted", p)
		}
	}
}

// Sync follows the API server: a changed Secret swaps its volume; a subPath mount keeps what
// the container started with, as with the kubelet.
func TestPodSyncFollowsTheAPIServer(t *testing.T) {
	ctx := context.Background()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "ns"},
		Data:       map[string][]byte{"tls.crt": []byte("CERT 1"), "tls.key": []byte("KEY 1")},
	}
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(secret).Build()
	items := []corev1.KeyToPath{{Key: "tls.crt", Path: "client/tls.crt"}, {Key: "tls.key", Path: "client/tls.key"}}
	spec := &corev1.PodSpec{
		Containers: []corev1.Container{{Name: "proxy", VolumeMounts: []corev1.VolumeMount{
			{Name: "certs", MountPath: "/etc/certs"},
			{Name: "certs", MountPath: "/etc/pinned.crt", SubPath: "client/tls.crt"},
		}}},
		Volumes: []corev1.Volume{{Name: "certs", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "client"}, Items: items,
			}}},
		}}}},
	}
	root := t.TempDir()
	pod, files, err := Mount(ctx, c, "ns", spec, "", root)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	if want := []string{"/etc/certs/client/tls.crt", "/etc/certs/client/tls.key", "/etc/pinned.crt"}; !slices.Equal(paths, want) {
		t.Fatalf("mounted %v, want %v", paths, want)
	}
	crt, ok := pod.HostPath("/etc/certs/client/tls.crt")
	if !ok || crt != filepath.Join(root, "etc", "certs", "client", "tls.crt") {
		t.Fatalf("HostPath = %s, %t", crt, ok)
	}
	if _, ok := pod.HostPath("/etc/other"); ok {
		t.Error("HostPath of a path outside every mount")
	}

	secret.Data["tls.crt"] = []byte("CERT 2")
	if err := c.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := pod.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s := readFile(t, crt); s != "CERT 2" {
		t.Errorf("after Sync, client/tls.crt = %q, want CERT 2", s)
	}
	if s := readFile(t, filepath.Join(root, "etc", "pinned.crt")); s != "CERT 1" {
		t.Errorf("after Sync, the subPath mount = %q, want what the container started with", s)
	}
}
