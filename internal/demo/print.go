package demo

import (
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// printer writes the story's progress: a heading per step, indented lines under it.
type printer struct{ w io.Writer }

func (p printer) step(format string, args ...any) {
	fmt.Fprintf(p.w, "\n==> "+format+"\n", args...)
}

func (p printer) line(format string, args ...any) {
	fmt.Fprintf(p.w, "    "+format+"\n", args...)
}

// block writes text indented under the current step.
func (p printer) block(text string) {
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(p.w, "      %s\n", l)
	}
}

// yamlOf renders an object as a person would read it back from the API server, without the
// bookkeeping fields (managed fields, UID, resource version, timestamps) nobody needs here.
func yamlOf(obj client.Object) string {
	o := obj.DeepCopyObject().(client.Object)
	if gvk, err := apiutil.GVKForObject(o, manager.Scheme()); err == nil {
		o.GetObjectKind().SetGroupVersionKind(gvk)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return fmt.Sprintf("(cannot render %T: %v)", obj, err)
	}
	u := &unstructured.Unstructured{Object: m}
	for _, f := range [][]string{
		{"metadata", "managedFields"}, {"metadata", "uid"}, {"metadata", "resourceVersion"},
		{"metadata", "generation"}, {"metadata", "creationTimestamp"},
	} {
		unstructured.RemoveNestedField(u.Object, f...)
	}
	refs, _, _ := unstructured.NestedSlice(u.Object, "metadata", "ownerReferences")
	for _, r := range refs {
		if ref, ok := r.(map[string]any); ok {
			delete(ref, "uid")
		}
	}
	if len(refs) > 0 {
		_ = unstructured.SetNestedSlice(u.Object, refs, "metadata", "ownerReferences")
	}
	if st, ok := u.Object["status"].(map[string]any); ok {
		for k, v := range st {
			if v == nil {
				delete(st, k) // e.g. a policy's ancestors before any implementation reported
			}
		}
		if len(st) == 0 {
			delete(u.Object, "status")
		}
	}
	out, err := yaml.Marshal(u.Object)
	if err != nil {
		return fmt.Sprintf("(cannot render %T: %v)", obj, err)
	}
	return string(out)
}

// tenantStatus writes a tenant's conditions and, per upstream, what to write in the gateway.
func (p printer) tenantStatus(t *v1alpha1.GatewayTenant) {
	p.line("status of GatewayTenant %s (generation %d, observedGeneration %d):", t.Name, t.Generation, t.Status.ObservedGeneration)
	for _, c := range t.Status.Conditions {
		p.line("  %-19s %-5s %-24s %s", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, u := range t.Status.Upstreams {
		if u.GatewayHost != "" {
			p.line("  upstream %s: gatewayHost %s, gatewayPort %d", u.Name, u.GatewayHost, u.GatewayPort)
		} else {
			p.line("  upstream %s: no gateway address (not usable)", u.Name)
		}
		for _, c := range u.Conditions {
			p.line("    %s %s %s: %s", c.Type, c.Status, c.Reason, c.Message)
		}
		if cc := u.ClientCertificate; cc != nil {
			p.line("    clientCertificate: secretName %q, signerName %q", cc.SecretName, cc.SignerName)
			for _, r := range cc.Replicas {
				p.line("      replica %s holds %s, issued by %s, valid until %s", r.Pod, r.Subject, r.Issuer, r.NotAfter)
			}
		}
	}
}
