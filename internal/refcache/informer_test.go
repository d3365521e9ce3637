package refcache

import (
	"context"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// setFilter keeps the objects whose group is in refs, or that carry the label "own".
type setFilter struct {
	mu   sync.Mutex
	refs map[string]bool
}

func newSetFilter(groups ...string) *setFilter {
	f := &setFilter{refs: map[string]bool{}}
	for _, g := range groups {
		f.refs[g] = true
	}
	return f
}

func (f *setFilter) set(group string, referenced bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refs[group] = referenced
}

func (f *setFilter) Ready(context.Context) error { return nil }
func (f *setFilter) Single() bool                { return true }
func (f *setFilter) Group(o client.Object) string {
	return o.GetNamespace() + "/" + o.GetName()
}

func (f *setFilter) Keep(o client.Object) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return o.GetLabels()["own"] == "yes" || f.refs[f.Group(o)]
}

func (f *setFilter) Referenced(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for g, ok := range f.refs {
		if ok {
			out = append(out, g)
		}
	}
	return out, nil
}

func svc(ns, name, rv string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: rv}}
}

// events records what a handler was told, as "add ns/name rv", "update ...", "delete ...".
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) record(verb string, o any) {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	m := o.(client.Object)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, verb+" "+m.GetNamespace()+"/"+m.GetName()+" "+m.GetResourceVersion())
}

func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.got
	e.got = nil
	return out
}

func newTestInformer(t *testing.T, f Filter) (*Informer, *events) {
	t.Helper()
	i := NewInformer(&toolscache.ListWatch{}, &corev1.Service{}, toolscache.Indexers{}, f, "Service")
	ev := &events{}
	if _, err := i.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { ev.record("add", o) },
		UpdateFunc: func(_, o any) { ev.record("update", o) },
		DeleteFunc: func(o any) { ev.record("delete", o) },
	}); err != nil {
		t.Fatal(err)
	}
	return i, ev
}

func keys(i *Informer) []string {
	k := i.GetIndexer().ListKeys()
	slices.Sort(k)
	return k
}

func TestInformerKeepsWhatIsOwnedOrReferenced(t *testing.T) {
	f := newSetFilter("team-a/api", "team-a/missing")
	i, ev := newTestInformer(t, f)
	own := svc("team-a", "proxy", "5")
	own.Labels = map[string]string{"own": "yes"}
	if err := i.Replace([]any{svc("team-a", "api", "3"), svc("noise", "web", "4"), own}, "5"); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(i), []string{"team-a/api", "team-a/proxy"}; !slices.Equal(got, want) {
		t.Errorf("after the list the store holds %v, want %v", got, want)
	}
	if !i.HasSynced() {
		t.Error("not synced after the initial list")
	}
	for group, want := range map[string]bool{"team-a/api": true, "team-a/missing": true, "noise/web": false} {
		if got := i.Resident(group); got != want {
			t.Errorf("Resident(%s) = %v, want %v", group, got, want)
		}
	}
	if got := ev.take(); len(got) != 2 {
		t.Errorf("the handler was told of %v, want the two kept objects", got)
	}

	// Another application's objects come and go unseen.
	for _, err := range []error{i.Add(svc("noise", "web", "6")), i.Update(svc("noise", "web", "7")), i.Delete(svc("noise", "web", "8"))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := ev.take(); len(got) != 0 {
		t.Errorf("the handler was told of unreferenced objects: %v", got)
	}

	// A referenced object's changes and deletion arrive; a deleted one is known not to exist.
	if err := i.Update(svc("team-a", "api", "9")); err != nil {
		t.Fatal(err)
	}
	if err := i.Delete(svc("team-a", "api", "10")); err != nil {
		t.Fatal(err)
	}
	if got, want := ev.take(), []string{"update team-a/api 9", "delete team-a/api 9"}; !slices.Equal(got, want) {
		t.Errorf("handler told %v, want %v", got, want)
	}
	if !i.Resident("team-a/api") || slices.Contains(keys(i), "team-a/api") {
		t.Error("a deleted referenced Service should be resident and absent")
	}
}

func TestInformerForgetsWhatIsNoLongerReferenced(t *testing.T) {
	f := newSetFilter("team-a/api")
	i, _ := newTestInformer(t, f)
	if err := i.Replace([]any{svc("team-a", "api", "3")}, "3"); err != nil {
		t.Fatal(err)
	}
	f.set("team-a/api", false)
	if err := i.Update(svc("team-a", "api", "4")); err != nil {
		t.Fatal(err)
	}
	if len(keys(i)) != 0 || i.Resident("team-a/api") {
		t.Errorf("an unreferenced Service is still held (%v) or resident", keys(i))
	}
}

func TestLoadMakesANewReferenceResident(t *testing.T) {
	f := newSetFilter()
	i, ev := newTestInformer(t, f)
	if err := i.Replace(nil, "1"); err != nil {
		t.Fatal(err)
	}
	// The Service existed before any tenant named it: the list did not keep it.
	f.set("team-a/api", true)
	if i.Resident("team-a/api") {
		t.Fatal("a group nobody referenced at the list is resident")
	}
	read := func(context.Context) ([]client.Object, error) { return []client.Object{svc("team-a", "api", "5")}, nil }
	got, err := i.Load(context.Background(), "team-a/api", read)
	if err != nil || len(got) != 1 {
		t.Fatalf("Load = %v, %v", got, err)
	}
	if !i.Resident("team-a/api") || !slices.Equal(keys(i), []string{"team-a/api"}) {
		t.Errorf("after a load the store holds %v (resident %v)", keys(i), i.Resident("team-a/api"))
	}
	if got := ev.take(); len(got) != 0 {
		t.Errorf("a load is not a change, yet handlers were told %v", got)
	}
	// A change that happened before the read arrives late: the store keeps the newer.
	if err := i.Update(svc("team-a", "api", "4")); err != nil {
		t.Fatal(err)
	}
	o, _, _ := i.GetIndexer().GetByKey("team-a/api")
	if rv := o.(*corev1.Service).ResourceVersion; rv != "5" {
		t.Errorf("a late event replaced version 5 by %s", rv)
	}
}

func TestLoadOvertakenByTheWatchIsNotStored(t *testing.T) {
	f := newSetFilter()
	i, _ := newTestInformer(t, f)
	if err := i.Replace(nil, "1"); err != nil {
		t.Fatal(err)
	}
	f.set("team-a/api", true)
	read := func(context.Context) ([]client.Object, error) {
		// While the read is on its way, the Service is deleted and the watch says so.
		if err := i.Delete(svc("team-a", "api", "6")); err != nil {
			t.Error(err)
		}
		return []client.Object{svc("team-a", "api", "5")}, nil
	}
	if _, err := i.Load(context.Background(), "team-a/api", read); err != nil {
		t.Fatal(err)
	}
	if len(keys(i)) != 0 {
		t.Errorf("a read older than the watch's deletion was stored: %v", keys(i))
	}
	if !i.Resident("team-a/api") {
		t.Error("the deletion of a referenced Service should make it known not to exist")
	}
}

func TestFilteringWatchDropsUnreferencedAdditions(t *testing.T) {
	f := newSetFilter("team-a/api")
	fake := watch.NewFake()
	lw := &filteringLW{filter: f, lw: &toolscache.ListWatch{
		ListFunc: func(metav1.ListOptions) (runtime.Object, error) {
			return &corev1.ServiceList{Items: []corev1.Service{*svc("team-a", "api", "1"), *svc("noise", "web", "2")}}, nil
		},
		WatchFunc: func(metav1.ListOptions) (watch.Interface, error) { return fake, nil },
	}}
	list, err := lw.List(metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if items := list.(*corev1.ServiceList).Items; len(items) != 1 || items[0].Name != "api" {
		t.Errorf("the list kept %v", items)
	}
	w, err := lw.Watch(metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		fake.Add(svc("noise", "web", "3"))
		fake.Modify(svc("noise", "web", "4"))
		fake.Add(svc("team-a", "api", "5"))
		fake.Stop()
	}()
	var got []string
	for e := range w.ResultChan() {
		got = append(got, string(e.Type)+" "+e.Object.(client.Object).GetName())
	}
	if want := []string{"MODIFIED web", "ADDED api"}; !slices.Equal(got, want) {
		t.Errorf("the watch passed %v, want %v (changes pass for the store to judge)", got, want)
	}
}

// sliceFilter groups objects by their "svc" label, as EndpointSlices by their Service.
type sliceFilter struct{ *setFilter }

func (f sliceFilter) Single() bool { return false }
func (f sliceFilter) Group(o client.Object) string {
	return o.GetNamespace() + "/" + o.GetLabels()["svc"]
}
func (f sliceFilter) Keep(o client.Object) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refs[f.Group(o)]
}

func TestGroupsOfSeveralObjects(t *testing.T) {
	f := sliceFilter{newSetFilter()}
	i, _ := newTestInformer(t, f)
	slice := func(name, rv string) *corev1.Service {
		s := svc("team-a", name, rv)
		s.Labels = map[string]string{"svc": "api"}
		return s
	}
	if err := i.Replace([]any{slice("api-1", "2")}, "2"); err != nil {
		t.Fatal(err)
	}
	f.set("team-a/api", true)
	// One member changes after the reference: the store holds it, yet not the whole group.
	if err := i.Update(slice("api-1", "3")); err != nil {
		t.Fatal(err)
	}
	if i.Resident("team-a/api") {
		t.Fatal("a group is resident after one member's change")
	}
	read := func(context.Context) ([]client.Object, error) {
		return []client.Object{slice("api-1", "3"), slice("api-2", "4")}, nil
	}
	if _, err := i.Load(context.Background(), "team-a/api", read); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(i), []string{"team-a/api-1", "team-a/api-2"}; !slices.Equal(got, want) || !i.Resident("team-a/api") {
		t.Errorf("after the load: %v (resident %v), want %v", got, i.Resident("team-a/api"), want)
	}
	// Loaded again after one member went: the store lets it go too.
	f2 := func(context.Context) ([]client.Object, error) { return []client.Object{slice("api-2", "5")}, nil }
	if _, err := i.Load(context.Background(), "team-a/api", f2); err != nil {
		t.Fatal(err)
	}
	if got := keys(i); !slices.Equal(got, []string{"team-a/api-2"}) {
		t.Errorf("after the second load: %v", got)
	}
}
