package kubelet

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// File is one file a container sees through its volume mounts.
type File struct {
	// Path is the file's path inside the container.
	Path string
	// Source says where the content comes from, e.g. "ConfigMap upstream-ca key ca.crt".
	Source string
}

// Pod is one container of a pod with its volumes mounted under a directory of this machine:
// the container's path /p is Root/p.
type Pod struct {
	Root string

	reader    client.Reader
	namespace string
	volumes   map[string]*corev1.Volume
	container *corev1.Container
	mounted   map[string]*Volume // by mount path; subPath mounts are not kept in sync

	ref    PodRef
	issuer CredentialIssuer
	creds  map[string]credential // pod certificates held, by "<volume>/<source index>"
}

// Mount mounts the volumes of a container of spec (the only container when container is
// empty) under root, from the ConfigMaps, Secrets and ClusterTrustBundles the API server
// holds for namespace, as the kubelet does when it starts the pod. It supports ConfigMap,
// Secret, projected (of those, clusterTrustBundle and, with WithPodCertificates,
// podCertificate sources) and emptyDir volumes, items, optional sources, modes and subPath
// mounts.
func Mount(ctx context.Context, c client.Reader, namespace string, spec *corev1.PodSpec, container, root string, opts ...Option) (*Pod, []File, error) {
	ctr, err := findContainer(spec, container)
	if err != nil {
		return nil, nil, err
	}
	p := &Pod{Root: root, reader: c, namespace: namespace, volumes: map[string]*corev1.Volume{}, container: ctr, mounted: map[string]*Volume{},
		ref: newPodRef(namespace, spec), creds: map[string]credential{}}
	for _, o := range opts {
		o(p)
	}
	for i := range spec.Volumes {
		p.volumes[spec.Volumes[i].Name] = &spec.Volumes[i]
	}
	files, err := p.sync(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	return p, files, nil
}

// Sync re-reads every volume's ConfigMaps, Secrets and ClusterTrustBundles and swaps each
// volume's "..data" to the new content, as the kubelet's periodic sync does; pod
// certificates stay until RotatePodCertificates. Like the kubelet, it leaves subPath
// mounts as they were when the container started.
func (p *Pod) Sync(ctx context.Context) ([]File, error) { return p.sync(ctx, false) }

// HostPath is where a file the container sees at inPod is on this machine, and whether it
// lies in one of the container's volume mounts.
func (p *Pod) HostPath(inPod string) (string, bool) {
	for _, m := range p.container.VolumeMounts {
		mp := strings.TrimSuffix(m.MountPath, "/")
		if inPod == mp || strings.HasPrefix(inPod, mp+"/") {
			return p.host(inPod), true
		}
	}
	return "", false
}

func (p *Pod) host(inPod string) string { return filepath.Join(p.Root, filepath.FromSlash(inPod)) }

func (p *Pod) sync(ctx context.Context, starting bool) ([]File, error) {
	var files []File
	for _, m := range p.container.VolumeMounts {
		v := p.volumes[m.Name]
		if v == nil {
			return nil, fmt.Errorf("volume mount %q names no volume", m.Name)
		}
		if m.SubPath != "" && !starting {
			continue
		}
		payload, sources, err := p.payload(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if m.SubPath != "" {
			f, err := p.mountSubPath(m, payload, sources)
			if err != nil {
				return nil, err
			}
			files = append(files, f...)
			continue
		}
		if vol := p.mounted[m.MountPath]; vol != nil {
			err = vol.UpdateItems(payload)
		} else {
			p.mounted[m.MountPath], err = writeVolume(p.host(m.MountPath), payload)
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q at %s: %w", v.Name, m.MountPath, err)
		}
		for _, item := range slices.Sorted(maps.Keys(payload)) {
			files = append(files, File{Path: path.Join(m.MountPath, item), Source: sources[item]})
		}
	}
	return files, nil
}

// mountSubPath copies the file (or the directory's files) at the mount's subPath of the
// payload to the mount path: the kubelet bind-mounts it, resolved once.
func (p *Pod) mountSubPath(m corev1.VolumeMount, payload map[string]Item, sources map[string]string) ([]File, error) {
	var files []File
	sub := strings.TrimSuffix(m.SubPath, "/")
	for _, item := range slices.Sorted(maps.Keys(payload)) {
		var rel string
		switch {
		case item == sub:
		case strings.HasPrefix(item, sub+"/"):
			rel = strings.TrimPrefix(item, sub+"/")
		default:
			continue
		}
		inPod := path.Join(m.MountPath, rel)
		if err := writeItem(p.host(inPod), payload[item]); err != nil {
			return nil, err
		}
		files = append(files, File{Path: inPod, Source: sources[item]})
	}
	return files, nil
}

// payload is the content of a volume by item path, and where each item comes from.
func (p *Pod) payload(ctx context.Context, v *corev1.Volume) (map[string]Item, map[string]string, error) {
	payload, sources := map[string]Item{}, map[string]string{}
	add := func(kind, name string, items []corev1.KeyToPath, optional bool, defaultMode *int32) error {
		data, err := p.objectData(ctx, kind, name)
		if apierrors.IsNotFound(err) && optional {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s %s: %w", kind, name, err)
		}
		if len(items) == 0 {
			for _, k := range slices.Sorted(maps.Keys(data)) {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			b, ok := data[it.Key]
			if !ok {
				if optional {
					continue
				}
				return fmt.Errorf("%s %s has no key %q", kind, name, it.Key)
			}
			mode := fs.FileMode(ptr.Deref(it.Mode, ptr.Deref(defaultMode, corev1.ConfigMapVolumeSourceDefaultMode)))
			payload[it.Path] = Item{Data: b, Mode: mode}
			sources[it.Path] = fmt.Sprintf("%s %s key %s", kind, name, it.Key)
		}
		return nil
	}
	var err error
	switch {
	case v.ConfigMap != nil:
		err = add("ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items, ptr.Deref(v.ConfigMap.Optional, false), v.ConfigMap.DefaultMode)
	case v.Secret != nil:
		err = add("Secret", v.Secret.SecretName, v.Secret.Items, ptr.Deref(v.Secret.Optional, false), v.Secret.DefaultMode)
	case v.EmptyDir != nil:
	case v.Projected != nil:
		mode := ptr.Deref(v.Projected.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode)
		for i, src := range v.Projected.Sources {
			switch {
			case src.ConfigMap != nil:
				err = add("ConfigMap", src.ConfigMap.Name, src.ConfigMap.Items, ptr.Deref(src.ConfigMap.Optional, false), v.Projected.DefaultMode)
			case src.Secret != nil:
				err = add("Secret", src.Secret.Name, src.Secret.Items, ptr.Deref(src.Secret.Optional, false), v.Projected.DefaultMode)
			case src.ClusterTrustBundle != nil:
				var data []byte
				var what string
				if data, what, err = p.trustAnchors(ctx, src.ClusterTrustBundle); err == nil {
					payload[src.ClusterTrustBundle.Path] = Item{Data: data, Mode: modeOf(mode)}
					sources[src.ClusterTrustBundle.Path] = what
				}
			case src.PodCertificate != nil:
				var c credential
				if c, err = p.podCertificate(ctx, v.Name, i, src.PodCertificate); err == nil {
					addPodCertificate(payload, sources, src.PodCertificate, c, mode)
				}
			default:
				err = fmt.Errorf("projected source %d: only ConfigMap, Secret, clusterTrustBundle and podCertificate sources can be mounted here", i)
			}
			if err != nil {
				return nil, nil, err
			}
		}
	default:
		err = fmt.Errorf("only ConfigMap, Secret, projected and emptyDir volumes can be mounted here")
	}
	return payload, sources, err
}

func (p *Pod) objectData(ctx context.Context, kind, name string) (map[string][]byte, error) {
	key := client.ObjectKey{Namespace: p.namespace, Name: name}
	if kind == "Secret" {
		s := &corev1.Secret{}
		if err := p.reader.Get(ctx, key, s); err != nil {
			return nil, err
		}
		return s.Data, nil
	}
	cm := &corev1.ConfigMap{}
	if err := p.reader.Get(ctx, key, cm); err != nil {
		return nil, err
	}
	data := maps.Clone(cm.BinaryData)
	if data == nil {
		data = make(map[string][]byte, len(cm.Data))
	}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	return data, nil
}

func modeOf(mode int32) fs.FileMode { return fs.FileMode(mode) }

// findContainer is the container of that name, or the only container when name is empty.
func findContainer(spec *corev1.PodSpec, name string) (*corev1.Container, error) {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name || (name == "" && len(spec.Containers) == 1) {
			return &spec.Containers[i], nil
		}
	}
	if name == "" {
		return nil, fmt.Errorf("name the container: the pod has %d", len(spec.Containers))
	}
	return nil, fmt.Errorf("no container named %q among %d containers", name, len(spec.Containers))
}
