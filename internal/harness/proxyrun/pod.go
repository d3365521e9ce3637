package proxyrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// Pod is a proxy pod as the operator rendered it, with its volumes mounted on this machine
// (kubelet.Mount) and its configuration file, the one its container's --config names, read
// from there with the proxy's own parser.
type Pod struct {
	*kubelet.Pod
	// Files are the files its container sees through its volume mounts.
	Files []kubelet.File
	// ConfigPath is the path of the configuration file inside the container.
	ConfigPath string
	// ConfigSource says where the kubelet took that file from.
	ConfigSource string
	// Config is the configuration as rendered.
	Config *contract.Config

	raw []byte
}

// MountPod mounts the only container of spec (a proxy pod of namespace) under root, as the
// kubelet would start it (with opts: the pod's name, how its pod certificates are issued), and
// reads the configuration its --config argument names.
func MountPod(ctx context.Context, c client.Reader, namespace string, spec *corev1.PodSpec, root string, opts ...kubelet.Option) (*Pod, error) {
	if len(spec.Containers) != 1 {
		return nil, fmt.Errorf("the proxy pod has %d containers, want 1", len(spec.Containers))
	}
	configPath, err := configArg(spec.Containers[0].Args)
	if err != nil {
		return nil, err
	}
	kp, files, err := kubelet.Mount(ctx, c, namespace, spec, "", root, opts...)
	if err != nil {
		return nil, err
	}
	p := &Pod{Pod: kp, Files: files, ConfigPath: configPath}
	for _, f := range files {
		if f.Path == configPath {
			p.ConfigSource = f.Source
		}
	}
	local, ok := kp.HostPath(configPath)
	if !ok || p.ConfigSource == "" {
		return nil, fmt.Errorf("--config=%s is in none of the container's volumes", configPath)
	}
	if p.raw, err = os.ReadFile(local); err != nil {
		return nil, err
	}
	if p.Config, err = contract.ParseConfig(p.raw); err != nil {
		return nil, fmt.Errorf("%s (%s) is not a valid proxy configuration: %w", configPath, p.ConfigSource, err)
	}
	return p, nil
}

// Localise writes beside the pod's files a copy of Config adapted to this machine (see
// Localise); it returns the file to run the proxy with and one line per change.
func (p *Pod) Localise(upstreamAddr string) (string, []string, error) {
	cfg, err := contract.ParseConfig(p.raw)
	if err != nil {
		return "", nil, err
	}
	changes := Localise(cfg, p.HostPath, upstreamAddr)
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return "", nil, err
	}
	file := filepath.Join(p.Root, "proxy.local.yaml")
	return file, changes, os.WriteFile(file, data, 0o600)
}

// configArg is the value of --config in a container's arguments.
func configArg(args []string) (string, error) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v, nil
		}
		if a == "--config" && i+1 < len(args) {
			return args[i+1], nil
		}
	}
	return "", fmt.Errorf("the proxy container's arguments %q name no --config", args)
}
