package demo

import (
	"context"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy"
)

// podFilesPrefix is where the rendered proxy pod finds every file it reads.
const podFilesPrefix = "/etc/gatewaytenant"

// proxyContainerName is the name of the proxy's container in the rendered pod.
const proxyContainerName = "proxy"

// podFile is one file the proxy container sees, and where the kubelet would take it from.
type podFile struct {
	// Path is the file's path inside the container.
	Path string
	// Source says where the content comes from, e.g. "ConfigMap upstream-ca key ca.crt".
	Source string
}

// keyFile is one file of a volume before it is mounted: its path in the volume and content.
type keyFile struct {
	path   string
	data   []byte
	source string
}

// materialise writes under root what the proxy container of dep sees through its volume
// mounts, as the kubelet would: for each mount, every item of the ConfigMaps and Secrets its
// volume projects, at root/<mountPath>/<item path>. It returns the files written.
func materialise(ctx context.Context, c client.Reader, dep *appsv1.Deployment, root string) ([]podFile, error) {
	spec := &dep.Spec.Template.Spec
	ctr, err := proxyContainer(spec)
	if err != nil {
		return nil, fmt.Errorf("proxy Deployment %s: %w", dep.Name, err)
	}
	volumes := map[string]*corev1.Volume{}
	for i := range spec.Volumes {
		volumes[spec.Volumes[i].Name] = &spec.Volumes[i]
	}
	var written []podFile
	for _, m := range ctr.VolumeMounts {
		v := volumes[m.Name]
		if v == nil {
			return nil, fmt.Errorf("proxy Deployment %s: volume mount %q names no volume", dep.Name, m.Name)
		}
		files, err := volumeFiles(ctx, c, dep.Namespace, v)
		if err != nil {
			return nil, fmt.Errorf("proxy Deployment %s, volume %q: %w", dep.Name, v.Name, err)
		}
		if m.SubPath == "" {
			// The mount point exists even when the volume is empty.
			if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(m.MountPath)), 0o700); err != nil {
				return nil, err
			}
		}
		for _, f := range files {
			rel, ok := underSubPath(f.path, m.SubPath)
			if !ok {
				continue
			}
			inPod := path.Join(m.MountPath, rel)
			dst := filepath.Join(root, filepath.FromSlash(inPod))
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return nil, err
			}
			if err := os.WriteFile(dst, f.data, 0o600); err != nil {
				return nil, err
			}
			written = append(written, podFile{Path: inPod, Source: f.source})
		}
	}
	return written, nil
}

// proxyContainer is the container named "proxy", or the only container.
func proxyContainer(spec *corev1.PodSpec) (*corev1.Container, error) {
	for i := range spec.Containers {
		if spec.Containers[i].Name == proxyContainerName {
			return &spec.Containers[i], nil
		}
	}
	if len(spec.Containers) == 1 {
		return &spec.Containers[0], nil
	}
	return nil, fmt.Errorf("no container named %q among %d containers", proxyContainerName, len(spec.Containers))
}

// underSubPath maps a file's path in its volume to its path under a mount of subPath: the
// file itself when it is the subPath, a path below it when the subPath is its directory.
func underSubPath(p, subPath string) (string, bool) {
	switch {
	case subPath == "":
		return p, true
	case p == subPath:
		return "", true
	case strings.HasPrefix(p, strings.TrimSuffix(subPath, "/")+"/"):
		return strings.TrimPrefix(p, strings.TrimSuffix(subPath, "/")+"/"), true
	}
	return "", false
}

// volumeFiles lists the files of a ConfigMap, Secret, projected or emptyDir volume.
func volumeFiles(ctx context.Context, c client.Reader, ns string, v *corev1.Volume) ([]keyFile, error) {
	switch {
	case v.ConfigMap != nil:
		return objectFiles(ctx, c, ns, "ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items, ptr.Deref(v.ConfigMap.Optional, false))
	case v.Secret != nil:
		return objectFiles(ctx, c, ns, "Secret", v.Secret.SecretName, v.Secret.Items, ptr.Deref(v.Secret.Optional, false))
	case v.EmptyDir != nil:
		return nil, nil
	case v.Projected != nil:
		var out []keyFile
		for i, src := range v.Projected.Sources {
			var files []keyFile
			var err error
			switch {
			case src.ConfigMap != nil:
				files, err = objectFiles(ctx, c, ns, "ConfigMap", src.ConfigMap.Name, src.ConfigMap.Items, ptr.Deref(src.ConfigMap.Optional, false))
			case src.Secret != nil:
				files, err = objectFiles(ctx, c, ns, "Secret", src.Secret.Name, src.Secret.Items, ptr.Deref(src.Secret.Optional, false))
			default:
				err = fmt.Errorf("projected source %d: only ConfigMap and Secret sources can be materialised", i)
			}
			if err != nil {
				return nil, err
			}
			out = append(out, files...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("only ConfigMap, Secret, projected and emptyDir volumes can be materialised")
}

// objectFiles reads a ConfigMap or Secret and returns the files its items (every key when
// items is empty) make, as the kubelet lays them out.
func objectFiles(ctx context.Context, c client.Reader, ns, kind, name string, items []corev1.KeyToPath, optional bool) ([]keyFile, error) {
	data, err := objectData(ctx, c, ns, kind, name)
	if apierrors.IsNotFound(err) && optional {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", kind, name, err)
	}
	if len(items) == 0 {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	out := make([]keyFile, 0, len(items))
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s %s has no key %q", kind, name, it.Key)
		}
		out = append(out, keyFile{path: it.Path, data: b, source: fmt.Sprintf("%s %s key %s", kind, name, it.Key)})
	}
	return out, nil
}

func objectData(ctx context.Context, c client.Reader, ns, kind, name string) (map[string][]byte, error) {
	key := client.ObjectKey{Namespace: ns, Name: name}
	if kind == "Secret" {
		s := &corev1.Secret{}
		if err := c.Get(ctx, key, s); err != nil {
			return nil, err
		}
		return s.Data, nil
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, key, cm); err != nil {
		return nil, err
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	return data, nil
}

// localise adapts a rendered proxy configuration to run on this machine, in place: files
// under /etc/gatewaytenant move under root (where materialise wrote them), listeners move to
// free ports of 127.0.0.1, and every upstream address becomes upstreamAddr. What the proxy
// verifies (serverName, subjectAltNames, CA bundles, depth) stays as rendered. It returns one
// line per change.
func localise(cfg *proxy.Config, root, upstreamAddr string) []string {
	var changes []string
	set := func(field string, p *string, v string) {
		if *p != v {
			changes = append(changes, fmt.Sprintf("%s: %s -> %s", field, *p, v))
			*p = v
		}
	}
	movePath := func(field string, p *string) {
		if *p == podFilesPrefix || strings.HasPrefix(*p, podFilesPrefix+"/") {
			set(field, p, filepath.Join(root, filepath.FromSlash(*p)))
		}
	}
	set("admin.address", &cfg.Admin.Address, "127.0.0.1:0")
	// Nothing routes to a local process, so there is nothing to wait for before a restart.
	if d := cfg.Shutdown.DrainDelay; d == nil || d.Duration != 0 {
		was := "unset"
		if d != nil {
			was = d.String()
		}
		changes = append(changes, fmt.Sprintf("shutdown.drainDelay: %s -> 0s (no Service endpoints to leave)", was))
		cfg.Shutdown.DrainDelay = &proxy.Duration{}
	}
	for i := range cfg.Upstreams {
		u := &cfg.Upstreams[i]
		p := fmt.Sprintf("upstreams[%d]", i)
		set(p+".listen", &u.Listen, "127.0.0.1:0")
		if u.TLS != nil && u.TLS.ServerName == "" {
			// Keep verifying the rendered host, not the loopback address.
			if host, _, err := net.SplitHostPort(u.Address); err == nil {
				u.TLS.ServerName = host
			}
		}
		set(p+".address", &u.Address, upstreamAddr)
		if u.TLS == nil {
			continue
		}
		for j := range u.TLS.CAFiles {
			movePath(fmt.Sprintf("%s.tls.caFiles[%d]", p, j), &u.TLS.CAFiles[j])
		}
		if cc := u.TLS.ClientCertificate; cc != nil {
			movePath(p+".tls.clientCertificate.certFile", &cc.CertFile)
			movePath(p+".tls.clientCertificate.keyFile", &cc.KeyFile)
		}
	}
	return changes
}
