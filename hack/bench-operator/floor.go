package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// childKinds are the kinds the operator creates for a tenant, in the order it writes them.
var childKinds = []schema.GroupVersionResource{
	{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Version: "v1", Resource: "services"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
}

var (
	tenantsGVR = v1alpha1.GroupVersion.WithResource("gatewaytenants")
	// The operator records an event when it creates a tenant's children: the floor writes it
	// too.
	eventsGVR = schema.GroupVersionResource{Group: "events.k8s.io", Version: "v1", Resource: "events"}
)

// placeholder stands for the namespace in the template's JSON.
const placeholder = "@NAMESPACE@"

// template is what the operator wrote for one tenant, with the namespace and the owner's UID
// left open: the floor writes exactly these objects and this status for every tenant.
type template struct {
	children []templateChild
	status   []byte // merge patch {"status": ...}, namespace as placeholder
}

type templateChild struct {
	gvr  schema.GroupVersionResource
	json []byte // namespace as placeholder, owner UID as placeholderUID
}

const placeholderUID = "@UID@"

// captureTemplate reads what the operator wrote for the tenant in namespace ns.
func captureTemplate(ctx context.Context, dyn dynamic.Interface, ns string) (*template, error) {
	t := &template{}
	sel := metav1.ListOptions{LabelSelector: v1alpha1.LabelTenant + "=" + tenantName}
	tenant, err := dyn.Resource(tenantsGVR).Namespace(ns).Get(ctx, tenantName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	for _, gvr := range append(childKinds, eventsGVR) {
		opts := sel
		if gvr == eventsGVR {
			opts = metav1.ListOptions{}
		}
		list, err := dyn.Resource(gvr).Namespace(ns).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		for _, item := range list.Items {
			if gvr == eventsGVR && item.Object["type"] != "Normal" {
				// The template's first reconcile may run before the preset's data plane
				// exists and warn of it; the operator's tenants do not see that.
				continue
			}
			obj := item.DeepCopy()
			unstructured.RemoveNestedField(obj.Object, "status")
			for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"} {
				unstructured.RemoveNestedField(obj.Object, "metadata", f)
			}
			if gvr == eventsGVR { // events are named by their writer: let the API server name them
				unstructured.RemoveNestedField(obj.Object, "metadata", "name")
				_ = unstructured.SetNestedField(obj.Object, tenantName+"-", "metadata", "generateName")
			}
			unstructured.RemoveNestedField(obj.Object, "spec", "clusterIP")
			unstructured.RemoveNestedField(obj.Object, "spec", "clusterIPs")
			data, err := json.Marshal(obj.Object)
			if err != nil {
				return nil, err
			}
			data = bytes.ReplaceAll(data, []byte(`"`+string(tenant.GetUID())+`"`), []byte(`"`+placeholderUID+`"`))
			t.children = append(t.children, templateChild{gvr: gvr, json: bytes.ReplaceAll(data, []byte(ns), []byte(placeholder))})
		}
	}
	status, ok, err := unstructured.NestedMap(tenant.Object, "status")
	if err != nil || !ok {
		return nil, fmt.Errorf("tenant %s/%s has no status: %v", ns, tenantName, err)
	}
	data, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return nil, err
	}
	t.status = bytes.ReplaceAll(data, []byte(ns), []byte(placeholder))
	return t, nil
}

// objectsFor is the template filled in for one tenant.
func (t *template) objectsFor(ns string, uid types.UID) ([]*unstructured.Unstructured, []byte, error) {
	out := make([]*unstructured.Unstructured, 0, len(t.children))
	for _, c := range t.children {
		data := bytes.ReplaceAll(c.json, []byte(placeholder), []byte(ns))
		data = bytes.ReplaceAll(data, []byte(placeholderUID), []byte(uid))
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(data); err != nil {
			return nil, nil, err
		}
		out = append(out, obj)
	}
	return out, bytes.ReplaceAll(t.status, []byte(placeholder), []byte(ns)), nil
}

// runFloor writes the template's objects and status for every tenant with workers
// goroutines and no client-side rate limit: the fastest this API server takes the operator's
// writes. It returns the wall time.
func runFloor(ctx context.Context, dyn dynamic.Interface, t *template, namespaces []string, uids map[string]types.UID, workers int) (time.Duration, error) {
	type prepared struct {
		objs   []*unstructured.Unstructured
		status []byte
	}
	work := make([]prepared, len(namespaces))
	for i, ns := range namespaces {
		objs, status, err := t.objectsFor(ns, uids[ns])
		if err != nil {
			return 0, err
		}
		work[i] = prepared{objs, status}
	}
	start := time.Now()
	err := parallel(ctx, len(namespaces), workers, func(ctx context.Context, i int) error {
		ns := namespaces[i]
		for j, obj := range work[i].objs {
			if _, err := dyn.Resource(t.children[j].gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("floor: creating %s %s/%s: %w", t.children[j].gvr.Resource, ns, obj.GetName(), err)
			}
		}
		_, err := dyn.Resource(tenantsGVR).Namespace(ns).Patch(ctx, tenantName, types.MergePatchType, work[i].status, metav1.PatchOptions{}, "status")
		if err != nil {
			return fmt.Errorf("floor: patching status of %s/%s: %w", ns, tenantName, err)
		}
		return nil
	})
	return time.Since(start), err
}

// removeFloor deletes the floor's tenants and everything written for them, so that the
// operator neither reconciles nor caches them.
func removeFloor(ctx context.Context, dyn dynamic.Interface, t *template, namespaces []string, workers int) error {
	kinds := t.kinds()
	return parallel(ctx, len(namespaces), workers, func(ctx context.Context, i int) error {
		ns := namespaces[i]
		if err := dyn.Resource(tenantsGVR).Namespace(ns).Delete(ctx, tenantName, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("deleting floor tenant in %s: %w", ns, err)
		}
		return deleteChildren(ctx, dyn, kinds, ns)
	})
}

// resetFloor undoes a floor run and keeps the tenants: their children are deleted and their
// status cleared, so that the next run writes all of it again.
func resetFloor(ctx context.Context, dyn dynamic.Interface, t *template, namespaces []string, workers int) error {
	kinds := t.kinds()
	return parallel(ctx, len(namespaces), workers, func(ctx context.Context, i int) error {
		ns := namespaces[i]
		if err := deleteChildren(ctx, dyn, kinds, ns); err != nil {
			return err
		}
		_, err := dyn.Resource(tenantsGVR).Namespace(ns).Patch(ctx, tenantName, types.MergePatchType, []byte(`{"status":null}`), metav1.PatchOptions{}, "status")
		if err != nil {
			return fmt.Errorf("clearing the status of floor tenant in %s: %w", ns, err)
		}
		return nil
	})
}

// kinds are the kinds of the template's children, each once. (The events stay: they are
// named by the API server, and the operator does not read them.)
func (t *template) kinds() []schema.GroupVersionResource {
	var kinds []schema.GroupVersionResource
	seen := map[schema.GroupVersionResource]bool{}
	for _, c := range t.children {
		if !seen[c.gvr] && c.gvr != eventsGVR {
			seen[c.gvr] = true
			kinds = append(kinds, c.gvr)
		}
	}
	return kinds
}

// deleteChildren deletes what the floor wrote for the tenant in ns.
func deleteChildren(ctx context.Context, dyn dynamic.Interface, kinds []schema.GroupVersionResource, ns string) error {
	sel := metav1.ListOptions{LabelSelector: v1alpha1.LabelTenant + "=" + tenantName}
	for _, gvr := range kinds {
		if err := dyn.Resource(gvr).Namespace(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
			return fmt.Errorf("deleting floor %s in %s: %w", gvr.Resource, ns, err)
		}
	}
	return nil
}
