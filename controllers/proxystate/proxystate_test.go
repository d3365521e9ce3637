package proxystate

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

func report(revision string, ups ...contract.UpstreamState) *contract.StateReport {
	return &contract.StateReport{APIVersion: contract.APIVersion, Kind: contract.StateKind, Revision: revision, Upstreams: ups}
}

func upstreamState(result contract.Reason, failures int) contract.UpstreamState {
	return contract.UpstreamState{Name: "api", Result: result, Message: string(result) + " message", ConsecutiveFailures: failures}
}

func TestVerdict(t *testing.T) {
	soon, later := time.Now().Add(time.Hour), time.Now().Add(48*time.Hour)
	ok := func(notAfter time.Time) contract.UpstreamState {
		s := upstreamState(contract.ResultOK, 0)
		s.Presented = &contract.PresentedCertificate{Subject: "CN=api", NotAfter: notAfter}
		return s
	}
	for _, tc := range []struct {
		name string
		pods []PodReport
		want func(v Verdict) bool
	}{
		{"no replica", nil, func(v Verdict) bool { return !v.Reported() && v.Pending == 0 }},
		{"two verify; the earlier expiry is kept", []PodReport{
			{Pod: "a", Report: report("r1", ok(later))}, {Pod: "b", Report: report("r1", ok(soon))},
		}, func(v Verdict) bool { return len(v.Verified) == 2 && v.Presented.NotAfter.Equal(soon) }},
		{"one confirmed failure, one unconfirmed", []PodReport{
			{Pod: "a", Report: report("r1", upstreamState(contract.ReasonHostnameMismatch, 2))},
			{Pod: "b", Report: report("r1", upstreamState(contract.ReasonHostnameMismatch, 1))},
		}, func(v Verdict) bool {
			return len(v.Failing) == 2 && v.Failing[0].Confirmed && !v.Failing[1].Confirmed &&
				v.Failing[0].Result == contract.ReasonHostnameMismatch
		}},
		{"another revision is pending", []PodReport{
			{Pod: "old", Report: report("r0", upstreamState(contract.ReasonUnknownAuthority, 5))},
			{Pod: "new", Report: report("r1", ok(later))},
		}, func(v Verdict) bool { return v.Pending == 1 && len(v.Verified) == 1 && len(v.Failing) == 0 }},
		{"not checked yet is pending", []PodReport{{Pod: "a", Report: report("r1", upstreamState(contract.ResultUnknown, 0))}},
			func(v Verdict) bool { return v.Pending == 1 && !v.Reported() }},
		{"unreadable replica that is not ready: starting", []PodReport{{Pod: "a", Err: "connection to its admin port refused", NotReady: true}},
			func(v Verdict) bool { return v.Pending == 1 && len(v.Unreachable) == 0 }},
		{"material of a replica that has not checked yet", []PodReport{{Pod: "a", Report: report("r1", upstreamState(contract.ResultUnknown, 0))},
			{Pod: "b", Report: report("r0", upstreamState(contract.ResultOK, 0))}},
			func(v Verdict) bool { return v.Pending == 2 && len(v.Replicas) == 1 && v.Replicas[0].Pod == "a" }},
		{"unreadable replica", []PodReport{{Pod: "a", Err: "connection to its admin port refused"}},
			func(v Verdict) bool {
				return len(v.Unreachable) == 1 && v.Unreachable[0] == "a: connection to its admin port refused"
			}},
		{"upstream missing from the report", []PodReport{{Pod: "a", Report: report("r1")}},
			func(v Verdict) bool { return v.Pending == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v := (Reading{Pods: tc.pods}).Verdict("api", "r1"); !tc.want(v) {
				t.Fatalf("verdict = %+v", v)
			}
		})
	}
}

// TestStoreWakesOnlyOnChange: a reading that differs only in check times wakes nobody.
func TestStoreWakesOnlyOnChange(t *testing.T) {
	ctx := context.Background()
	s := NewStore()
	key := types.NamespacedName{Namespace: "ns", Name: "t"}
	st := upstreamState(contract.ReasonExpired, 2)
	s.put(ctx, key, Reading{Pods: []PodReport{{Pod: "a", Report: report("r1", st)}}})
	st.CheckedAt, st.ConsecutiveFailures = time.Now(), 7
	s.put(ctx, key, Reading{Pods: []PodReport{{Pod: "a", Report: report("r1", st)}}})
	st.Message = "another message"
	s.put(ctx, key, Reading{Pods: []PodReport{{Pod: "a", Report: report("r1", st)}}})
	s.forget(ctx, key)
	s.forget(ctx, key)
	if n := len(s.events); n != 3 {
		t.Fatalf("%d wake-ups, want 3 (first reading, new message, gone)", n)
	}
	ev := <-s.events
	if ev.Object.GetNamespace() != "ns" || ev.Object.GetName() != "t" {
		t.Fatalf("event for %s/%s", ev.Object.GetNamespace(), ev.Object.GetName())
	}
}

func terminating(ep discoveryv1.Endpoint) discoveryv1.Endpoint {
	ep.Conditions.Terminating = ptr.To(true)
	return ep
}

func TestReplicasToRead(t *testing.T) {
	ep := func(addr, pod string, ready *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod}}
	}
	slices := []discoveryv1.EndpointSlice{
		{AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{
			ep("10.0.0.3", "p3", ptr.To(true)), ep("10.0.0.1", "p1", nil), ep("10.0.0.2", "p2", ptr.To(false)), terminating(ep("10.0.0.4", "p4", ptr.To(false))),
		}},
		{AddressType: discoveryv1.AddressTypeIPv6, Endpoints: []discoveryv1.Endpoint{ep("fd00::1", "p1", ptr.To(true))}},
		{AddressType: discoveryv1.AddressTypeFQDN, Endpoints: []discoveryv1.Endpoint{ep("x.example", "p9", nil)}},
	}
	got := fmt.Sprint(replicasToRead(slices, 5))
	if want := "[{p1 10.0.0.1 true} {p2 10.0.0.2 false} {p3 10.0.0.3 true}]"; got != want {
		t.Fatalf("replicasToRead = %s, want %s (not ready ones too: their reports say why; not terminating ones)", got, want)
	}
	if got := replicasToRead(slices, 1); len(got) != 1 {
		t.Fatalf("limit 1 gave %v", got)
	}
}

// TestFetch reads a real proxy's report, and names what is wrong with things that are not.
func TestFetch(t *testing.T) {
	chain := must(pki.NewChain())(t)
	up := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})) // not the chain's CA
	ca := must(pki.WriteFile(t.TempDir(), "ca.crt", chain.Root.CertPEM()))(t)
	adminPort := freePort(t)
	cfg := &contract.Config{APIVersion: contract.APIVersion, Kind: contract.Kind, Revision: "r1",
		Admin: contract.Admin{Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort))},
		Upstreams: []contract.Upstream{{Name: "api", Listen: "127.0.0.1:0", Address: up.Listener.Addr().String(),
			TLS: &contract.UpstreamTLS{CAFiles: []string{ca}, ServerName: "kong.example"}}}}
	p := must(proxy.New(cfg))(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done; up.Close() })

	poller := &Poller{AdminPort: adminPort}
	poller.defaults()
	local := target{pod: "p", address: "127.0.0.1"}
	var got PodReport
	deadline := time.Now().Add(time.Minute)
	for got.Report == nil || got.Report.Upstreams[0].Result == contract.ResultUnknown || got.Report.Upstreams[0].ConsecutiveFailures < 2 {
		if got = poller.fetch(ctx, local, nil); got.Report == nil && time.Now().After(deadline) {
			t.Fatalf("no report: %s", got.Err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	rep := got.Report
	if rep.Revision != "r1" || rep.Upstreams[0].Result != contract.ReasonUnknownAuthority || got.ETag == "" {
		t.Fatalf("report = %+v, ETag %q", rep, got.ETag)
	}
	// Named in the next request, an unchanged report is not sent again: the proxy answers
	// 304 and the poller keeps the one it had.
	again := poller.fetch(ctx, local, &got)
	if again.Err != "" || again.Report != rep || again.ETag != got.ETag {
		t.Fatalf("conditional read = %+v, want the report read before (304)", again)
	}

	for _, tc := range []struct {
		name, want string
		handler    http.HandlerFunc
	}{
		{"not found", "answered HTTP 404", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) }},
		{"not JSON", "does not parse", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }},
		{"another kind", "its state report is v2 Other", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"apiVersion":"v2","kind":"Other"}`)
		}},
	} {
		srv := httptest.NewServer(tc.handler)
		host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		pl := &Poller{AdminPort: must(strconv.Atoi(port))(t)}
		pl.defaults()
		if got := pl.fetch(ctx, target{pod: "p", address: host}, nil); got.Report != nil || !strings.Contains(got.Err, tc.want) {
			t.Errorf("%s: %v %q, want %q", tc.name, got.Report, got.Err, tc.want)
		}
		srv.Close()
	}
	closed := &Poller{AdminPort: freePort(t)}
	closed.defaults()
	if got := closed.fetch(ctx, local, nil); got.Err != "connection to its admin port refused" {
		t.Errorf("closed port: %q", got.Err)
	}
}

// TestRateFollowsReplicas: every replica can be read every interval, however many there are.
func TestRateFollowsReplicas(t *testing.T) {
	c := &replicaCount{slices: map[types.NamespacedName]int{}}
	slice := func(name string, ready int, proxy bool) *discoveryv1.EndpointSlice {
		s := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4}
		s.Namespace, s.Name = "ns", name
		if proxy {
			s.Labels = map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue, LabelComponent: ComponentProxy, v1alpha1.LabelTenant: "t"}
		}
		for i := range ready {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.0.0.%d", i+1)}})
		}
		return s
	}
	c.OnAdd(slice("a", 2, true), true)
	c.OnAdd(slice("b", 3, false), true) // not a proxy's
	c.OnUpdate(nil, slice("a", 3, true))
	c.OnAdd(slice("c", 1, true), false)
	c.OnDelete(slice("c", 1, true))
	if c.Total() != 3 {
		t.Fatalf("counted %d replicas, want 3", c.Total())
	}
	for _, tc := range []struct {
		replicas int
		want     float64
	}{{0, MinQPS}, {200, MinQPS}, {20000, 20000 * Headroom / 30.0}} {
		if got := qps(tc.replicas, 30*time.Second); got != tc.want {
			t.Errorf("qps(%d replicas) = %v, want %v", tc.replicas, got, tc.want)
		}
	}
}

func freePort(t *testing.T) int {
	ln := must(net.Listen("tcp", "127.0.0.1:0"))(t)
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
