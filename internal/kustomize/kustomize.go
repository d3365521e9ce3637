// Package kustomize renders the kustomizations under config/ as `kubectl apply -k` does, for
// the part of kustomize they use: resources (files and directories), namespace and
// namePrefix, with kustomize's rules for which objects those touch and which references
// follow a renamed object. Any other kustomization field is refused rather than ignored, so
// a kustomization that outgrows this package fails loudly instead of rendering wrong.
//
// It exists so that the bundle generator and the tests need no kustomize binary and no
// kustomize module; the rendered objects were compared with kustomize v5's output.
package kustomize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's Kustomization this package understands.
type kustomization struct {
	APIVersion string   `json:"apiVersion,omitempty"`
	Kind       string   `json:"kind,omitempty"`
	Namespace  string   `json:"namespace,omitempty"`
	NamePrefix string   `json:"namePrefix,omitempty"`
	Resources  []string `json:"resources,omitempty"`
}

// Build renders the kustomization in dir.
func Build(dir string) ([]*unstructured.Unstructured, error) {
	path := filepath.Join(dir, "kustomization.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w (this renderer knows resources, namespace and namePrefix only)", path, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: resource %s: %w", path, r, err)
		}
		var more []*unstructured.Unstructured
		switch {
		case st.IsDir():
			more, err = Build(p)
		case !within(dir, p):
			// kustomize's default load restriction: files from outside the root only
			// come through a kustomization of their own.
			err = fmt.Errorf("%s: resource file %s is not in or below %s", path, r, dir)
		default:
			more, err = ReadObjects(p)
		}
		if err != nil {
			return nil, err
		}
		objs = append(objs, more...)
	}
	transform(objs, k.NamePrefix, k.Namespace)
	return objs, nil
}

func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// ReadObjects reads every object of a YAML file of one or more documents.
func ReadObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseObjects(data)
}

// ParseObjects parses YAML documents into objects, skipping empty ones.
func ParseObjects(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("object without kind or name: %v", m)
		}
		objs = append(objs, u)
	}
}

// clusterScoped are the kinds of cluster-scoped objects config/ holds; kustomize learns the
// scope from its built-in schema.
var clusterScoped = map[string]bool{
	"Namespace":                true,
	"CustomResourceDefinition": true,
	"ClusterRole":              true,
	"ClusterRoleBinding":       true,
}

// IsClusterScoped tells whether objects of kind have no namespace.
func IsClusterScoped(kind string) bool { return clusterScoped[kind] }

// id names an object before the transformation of one kustomization level.
type id struct{ kind, namespace, name string }

// transform applies namePrefix and namespace as kustomize does: the prefix goes on every
// name but those of CustomResourceDefinitions and Namespaces; the namespace goes on every
// namespaced object and becomes the name of Namespace objects. References to renamed or
// moved objects follow them.
func transform(objs []*unstructured.Unstructured, prefix, namespace string) {
	moved := map[id]id{}
	oldNamespaces := make([]string, len(objs))
	for i, o := range objs {
		oldNamespaces[i] = o.GetNamespace()
		before := id{o.GetKind(), o.GetNamespace(), o.GetName()}
		after := before
		if prefix != "" && o.GetKind() != "CustomResourceDefinition" && o.GetKind() != "Namespace" {
			after.name = prefix + after.name
		}
		if namespace != "" {
			switch {
			case o.GetKind() == "Namespace":
				after.name = namespace
			case !IsClusterScoped(o.GetKind()):
				after.namespace = namespace
			}
		}
		o.SetName(after.name)
		o.SetNamespace(after.namespace)
		moved[before] = after
	}
	for i, o := range objs {
		fixReferences(o, oldNamespaces[i], moved)
	}
}

// fixReferences rewrites the references config/ uses (RBAC roleRefs and subjects, a pod's
// ServiceAccount, Secret and ConfigMap volumes) to objects that moved. References are
// resolved in oldNS, the namespace o had before it moved.
func fixReferences(o *unstructured.Unstructured, oldNS string, moved map[id]id) {
	switch o.GetKind() {
	case "RoleBinding", "ClusterRoleBinding":
		if ref, ok := o.Object["roleRef"].(map[string]any); ok {
			kind, _ := ref["kind"].(string)
			name, _ := ref["name"].(string)
			refNS := ""
			if kind == "Role" {
				refNS = oldNS
			}
			if to, ok := moved[id{kind, refNS, name}]; ok {
				ref["name"] = to.name
			}
		}
		subjects, _ := o.Object["subjects"].([]any)
		for _, s := range subjects {
			sub, _ := s.(map[string]any)
			if sub["kind"] != "ServiceAccount" {
				continue
			}
			name, _ := sub["name"].(string)
			subNS, _ := sub["namespace"].(string)
			if to, ok := moved[id{"ServiceAccount", subNS, name}]; ok {
				sub["name"], sub["namespace"] = to.name, to.namespace
			}
		}
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
		spec, ok, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
		if !ok {
			return
		}
		if sa, _ := spec["serviceAccountName"].(string); sa != "" {
			if to, ok := moved[id{"ServiceAccount", oldNS, sa}]; ok {
				spec["serviceAccountName"] = to.name
			}
		}
		volumes, _ := spec["volumes"].([]any)
		for _, v := range volumes {
			vol, _ := v.(map[string]any)
			if sec, ok := vol["secret"].(map[string]any); ok {
				renameField(sec, "secretName", id{"Secret", oldNS, ""}, moved)
			}
			if cm, ok := vol["configMap"].(map[string]any); ok {
				renameField(cm, "name", id{"ConfigMap", oldNS, ""}, moved)
			}
		}
		_ = unstructured.SetNestedMap(o.Object, spec, "spec", "template", "spec")
	}
}

func renameField(m map[string]any, field string, target id, moved map[id]id) {
	target.name, _ = m[field].(string)
	if to, ok := moved[target]; ok {
		m[field] = to.name
	}
}
