package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// reportServer plays the admin port of every proxy replica of a TLS run: 20,000 real proxies
// do not fit on one machine. The manager (built with -tags bench) dials it for every replica;
// the request's Host names the replica's pod address. It answers as the proxy does: the
// state report with its ETag, 304 to a request naming the current one.
type reportServer struct {
	addr string
	srv  *http.Server

	mu       sync.Mutex
	replicas map[string]*replica // by pod address

	requests, notModified atomic.Int64
}

// replica is one proxy pod as the report server plays it.
type replica struct {
	namespace, revision string
	failingSince        time.Time // zero: verified
}

func startReportServer() (*reportServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &reportServer{addr: ln.Addr().String(), replicas: map[string]*replica{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *reportServer) stop() { _ = s.srv.Close() }

func (s *reportServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	s.mu.Lock()
	rp, ok := s.replicas[host]
	var st replica
	if ok {
		st = *rp
	}
	s.mu.Unlock()
	if !ok || r.URL.Path != contract.StatePath {
		http.NotFound(w, r)
		return
	}
	rep := st.report()
	etag := rep.ETag()
	w.Header().Set("ETag", etag)
	if contract.Matches(r.Header.Get("If-None-Match"), etag) {
		s.notModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}

// report is the replica's state report now: its one upstream verified, or failing
// (confirmed: two failed checks in a row) since failingSince.
func (r replica) report() contract.StateReport {
	now := time.Now().UTC()
	u := contract.UpstreamState{
		Name: upstreamName, Address: upstreamName + "." + r.namespace + ".svc:8443", ServerName: upstreamName + "." + r.namespace + ".svc",
		Result: contract.ResultOK, Message: "verified", CheckedAt: now, LastVerifiedAt: now,
	}
	if !r.failingSince.IsZero() {
		u.Result, u.ConsecutiveFailures, u.Since, u.LastVerifiedAt = contract.ReasonUnknownAuthority, 2, r.failingSince, time.Time{}
		u.Message = "the upstream certificate is issued by a CA the proxy does not trust"
	}
	return contract.StateReport{APIVersion: contract.APIVersion, Kind: contract.StateKind, Revision: r.revision, Time: now,
		CheckInterval: contract.Duration{Duration: contract.DefaultCheckInterval}, Upstreams: []contract.UpstreamState{u}}
}

// fail makes the first replica of the tenant in namespace report a confirmed failure.
func (s *reportServer) fail(namespace string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.replicas[replicaAddress(namespaceIndex(namespace), 0)]; ok {
		r.failingSince = at
	}
}

// replicaAddress is the pod address of replica r of tenant i: 10.128.0.0/10 has room for
// 2,000,000.
func replicaAddress(i, r int) string {
	n := i*2 + r
	return fmt.Sprintf("10.%d.%d.%d", 128+n>>16, (n>>8)&255, n&255)
}

func namespaceIndex(ns string) int {
	var i int
	_, _ = fmt.Sscanf(ns[strings.LastIndexByte(ns, '-')+1:], "%d", &i)
	return i
}

// addProxyEndpoints plays the kubelet and the EndpointSlice controller for every TLS
// tenant's proxy: two ready replicas in an EndpointSlice of the proxy Service (with its
// labels, as the controller copies them), each served by the report server with the
// revision of the tenant's proxy configuration.
func addProxyEndpoints(ctx context.Context, c client.Client, s *reportServer, n, workers int) error {
	return parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		ns := tenantNamespace("p", i)
		svcs := &corev1.ServiceList{}
		if err := c.List(ctx, svcs, client.InNamespace(ns), client.MatchingLabels{contract.LabelComponent: contract.Component}); err != nil {
			return err
		}
		cms := &corev1.ConfigMapList{}
		if err := c.List(ctx, cms, client.InNamespace(ns), client.MatchingLabels{contract.LabelComponent: contract.Component}); err != nil {
			return err
		}
		if len(svcs.Items) != 1 || len(cms.Items) != 1 {
			return fmt.Errorf("%s: %d proxy Services and %d proxy ConfigMaps, want one each", ns, len(svcs.Items), len(cms.Items))
		}
		var cfg struct {
			Revision string `json:"revision"`
		}
		for _, data := range cms.Items[0].Data {
			if err := yaml.Unmarshal([]byte(data), &cfg); err != nil {
				return fmt.Errorf("%s: proxy configuration: %w", ns, err)
			}
		}
		svc := svcs.Items[0]
		labels := map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "bench"}
		for k, v := range svc.Labels {
			labels[k] = v
		}
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc.Name + "-x1", Labels: labels},
			AddressType: discoveryv1.AddressTypeIPv4,
		}
		s.mu.Lock()
		for r := range 2 {
			addr := replicaAddress(i, r)
			s.replicas[addr] = &replica{namespace: ns, revision: cfg.Revision}
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%d", svc.Name, r)},
			})
		}
		s.mu.Unlock()
		return c.Create(ctx, slice)
	})
}

// freshness is what the TLS run measures of the proxies' reports.
type freshness struct {
	replicas          int
	verifyAll         time.Duration // from the endpoints' creation until every tenant is verified
	window            time.Duration
	requests, notMod  int64
	cpuSeconds        float64 // the manager's, over the window
	rssWindow         memory
	latencies         []time.Duration
	samples, timeouts int
}

// measureFreshness gives every TLS tenant's proxy two replicas, waits until every tenant
// shows its upstream verified, counts the requests to the replicas over a settled window,
// and then makes one replica of samples tenants report a confirmed failure at one moment and
// measures until each tenant's status shows it.
func measureFreshness(ctx context.Context, r *result, c client.Client, tr *tracker, s *reportServer, m *managerProcess) error {
	o := r.o
	f := &freshness{replicas: 2 * o.tenants}
	r.fresh = f
	start := time.Now()
	if err := addProxyEndpoints(ctx, c, s, o.tenants, o.workers); err != nil {
		return err
	}
	logf("freshness: %d proxy replicas ready; waiting for every tenant to be verified", f.replicas)
	if err := tr.waitVerified(ctx, "p-", o.tenants, metav1.ConditionTrue); err != nil {
		return err
	}
	f.verifyAll = time.Since(start)
	logf("freshness: every tenant verified after %s", f.verifyAll.Round(time.Second))

	// Settle: the first readings after the endpoints appeared are behind us.
	time.Sleep(o.freshWindow / 2)
	req0, nm0, cpu0 := s.requests.Load(), s.notModified.Load(), processTicks(m.pid())
	t0 := time.Now()
	time.Sleep(o.freshWindow)
	f.window = time.Since(t0)
	f.requests, f.notMod = s.requests.Load()-req0, s.notModified.Load()-nm0
	f.cpuSeconds = float64(processTicks(m.pid())-cpu0) / clockTicks
	var err error
	if f.rssWindow, err = readMemory(m.pid()); err != nil {
		return err
	}
	logf("freshness: %.2f requests per replica per minute settled", perReplicaMinute(f))

	f.samples = min(o.freshSamples, o.tenants)
	at := time.Now()
	var namespaces []string
	for k := range f.samples {
		ns := tenantNamespace("p", k*o.tenants/f.samples)
		namespaces = append(namespaces, ns)
		s.fail(ns, at)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for _, ns := range namespaces {
		seen, err := tr.waitVerifiedIs(wctx, ns, metav1.ConditionFalse)
		if err != nil {
			f.timeouts++
			continue
		}
		f.latencies = append(f.latencies, seen.Sub(at))
	}
	logf("freshness: failure -> status p99 %s over %d tenants (%d not seen within 5m)",
		percentile(f.latencies, 0.99).Round(100*time.Millisecond), len(f.latencies), f.timeouts)
	return nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times.
const clockTicks = 100

func perReplicaMinute(f *freshness) float64 {
	if f.replicas == 0 || f.window == 0 {
		return 0
	}
	return float64(f.requests) / float64(f.replicas) / f.window.Minutes()
}

// verifiedOf is the Verified condition of the bench's upstream in a tenant's status.
func verifiedOf(gt *v1alpha1.GatewayTenant) metav1.ConditionStatus {
	for _, u := range gt.Status.Upstreams {
		if u.Name != upstreamName {
			continue
		}
		for _, c := range u.Conditions {
			if c.Type == v1alpha1.ConditionVerified {
				return c.Status
			}
		}
	}
	return ""
}
