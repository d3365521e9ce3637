// Command bench-operator measures the operator at scale against the floor of the API server
// it runs on. It starts the local control plane (the real kube-apiserver and etcd of
// bin/control-plane), optionally fills it with unrelated namespaces, and then, on the same
// control plane in the same run:
//
//   - the floor F: a plain client-go program writing exactly what the operator writes for N
//     tenants (copied from what the operator wrote for one tenant first), 16 workers, no client
//     rate limit, run three times (undone between runs): F is the median;
//   - the operator P: the real manager binary, started cold with N tenants waiting, until every
//     tenant has its status and the manager is idle;
//
// and prints F, P, P/F, requests and writes per tenant (from the API server's
// apiserver_request_total), the manager's RSS and high-water mark, writes over an idle window,
// writes after a restart, and the latency of single edits.
//
//	make bench-operator N=1000 [VARIANT=tls] [NOISE=4000]
//	go run ./hack/bench-operator -manager bin/manager -tenants 1000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

type options struct {
	manager     string
	managerArgs string
	managerEnv  string
	tenants     int
	variant     string
	noise       int
	workers     int
	idle        time.Duration
	edits       int
	timeout     time.Duration
	quiet       time.Duration
	// TLS runs: tenants whose replica fails, and the settled window requests are counted over.
	freshSamples int
	freshWindow  time.Duration
	// noFloor skips the floor (P/F is then not measured), for runs that are about
	// freshness or memory at a scale where the floor alone takes most of an hour here.
	noFloor bool
	// floorRuns is how many times the floor runs; F is the median.
	floorRuns int
}

func main() {
	var o options
	flag.StringVar(&o.manager, "manager", "bin/manager", "The manager binary (make build).")
	flag.StringVar(&o.managerArgs, "manager-args", "", "Extra flags for the manager, space-separated.")
	flag.StringVar(&o.managerEnv, "manager-env", "", "Extra environment for the manager, space-separated NAME=value.")
	flag.IntVar(&o.tenants, "tenants", 1000, "Tenants (each in its own namespace).")
	flag.StringVar(&o.variant, "variant", "plain", "plain: one upstream without TLS; tls: one TLS upstream with a CA ConfigMap and a client certificate.")
	flag.IntVar(&o.noise, "noise", 0, "Unrelated namespaces (5 ConfigMaps and 5 Secrets of 10 KiB, 2 Services with EndpointSlices, a Deployment each).")
	flag.IntVar(&o.workers, "workers", 16, "Workers of the floor (and of creating fixtures).")
	flag.DurationVar(&o.idle, "idle", 30*time.Second, "Idle window after the operator settled, over which writes are counted.")
	flag.IntVar(&o.edits, "edits", 20, "Single edits whose latency is measured.")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Minute, "Give up after this long.")
	flag.DurationVar(&o.quiet, "quiet", 3*time.Second, "The manager counts as settled after no reconcile for this long.")
	flag.IntVar(&o.freshSamples, "fresh-samples", 100, "TLS: tenants one of whose proxy replicas starts failing, for failure -> status (0: no freshness phase).")
	flag.DurationVar(&o.freshWindow, "fresh-window", 2*time.Minute, "TLS: the settled window over which requests to the proxies are counted.")
	flag.IntVar(&o.floorRuns, "floor-runs", 3, "Runs of the floor; F is their median (one run moved by a third between runs at 1,000 tenants).")
	flag.BoolVar(&o.noFloor, "no-floor", false, "Skip the floor: no P/F (for freshness and memory at scales where the floor alone takes most of an hour).")
	flag.Parse()
	if o.variant != "plain" && o.variant != "tls" {
		fmt.Fprintf(os.Stderr, "-variant: must be plain or tls, got %q\n", o.variant)
		os.Exit(2)
	}
	if o.tenants < 1 || o.workers < 1 || o.floorRuns < 1 {
		fmt.Fprintln(os.Stderr, "-tenants, -workers and -floor-runs must be at least 1")
		os.Exit(2)
	}
	ctrl.SetLogger(logr.Discard()) // the bench's own watch logs nothing worth reading
	// Interrupted, it still stops the control plane and the manager it started.
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-operator:", err)
		os.Exit(1)
	}
}

// result is one run's figures.
type result struct {
	o                      options
	floor, operator        time.Duration
	floorRuns              []time.Duration
	firstStatus            time.Duration // from the manager's start to the first tenant status
	floorLoad, opLoad      float64
	opCPU                  float64 // seconds of CPU the manager used for the cold start
	requests               requestCounts
	settledMem, idleMem    memory
	idleWrites             float64
	restartWrites          float64
	restartTime            time.Duration
	restartMem             memory
	edits                  []time.Duration
	noiseTime, fixtureTime time.Duration
	reports                *reportServer
	fresh                  *freshness
}

func run(ctx context.Context, o options) error {
	bin, err := filepath.Abs(o.manager)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("-manager: %w (run make build)", err)
	}
	dir, err := os.MkdirTemp("", "bench-operator-")
	if err != nil {
		return err
	}
	logf("work directory (manager logs, kubeconfig): %s", dir)

	env, envCfg, err := startControlPlane()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	cfg := rest.CopyConfig(envCfg)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit: the floor is the API server's
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		return err
	}
	dyn := dynamic.NewForConfigOrDie(cfg)
	cs := kubernetes.NewForConfigOrDie(cfg)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(envCfg, kubeconfig); err != nil {
		return err
	}
	r := &result{o: o}

	if o.noise > 0 {
		start := time.Now()
		if err := createNoise(ctx, c, o.noise, o.workers); err != nil {
			return err
		}
		r.noiseTime = time.Since(start)
		logf("created %d noise namespaces in %s", o.noise, r.noiseTime.Round(time.Second))
	}
	var tls *tlsMaterial
	if o.variant == "tls" {
		if tls, err = newTLSMaterial(); err != nil {
			return err
		}
	}
	tr, err := startTracker(ctx, cfg)
	if err != nil {
		return err
	}
	if r.reports, err = startReportServer(); err != nil {
		return err
	}
	defer r.reports.stop()
	mgrEnv := append(strings.Fields(o.managerEnv), "GATEWAYTENANT_BENCH_PROXY_REPORTS="+r.reports.addr)
	mgr := func(name string) (*managerProcess, error) {
		return startManager(bin, kubeconfig, filepath.Join(dir, name+".log"), strings.Fields(o.managerArgs), mgrEnv)
	}

	// What the operator writes for one tenant is what the floor writes for every tenant.
	const templateNS = "bench-template"
	if _, err := createNamespace(ctx, c, templateNS, tenantObjects(templateNS, tls, true)); err != nil {
		return err
	}
	m, err := mgr("template")
	if err != nil {
		return err
	}
	defer func() { _ = m.stop() }()
	if err := settle(ctx, m, tr, templateNS, 1, 1, o.quiet); err != nil {
		return err
	}
	if err := m.stop(); err != nil {
		return err
	}
	tmpl, err := captureTemplate(ctx, dyn, templateNS)
	if err != nil {
		return err
	}
	logf("template: the operator wrote %d objects (events included) and a status for one %s tenant", len(tmpl.children), o.variant)

	start := time.Now()
	var floorUIDs map[string]types.UID
	if !o.noFloor {
		if floorUIDs, err = createTenants(ctx, c, "f", o.tenants, o.workers, tls, false); err != nil {
			return err
		}
	}
	if _, err := createTenants(ctx, c, "p", o.tenants, o.workers, tls, true); err != nil {
		return err
	}
	r.fixtureTime = time.Since(start)
	floorNote := ", as many for the floor"
	if o.noFloor {
		floorNote = ""
	}
	logf("created the tenant namespaces (%d for the operator%s) in %s", o.tenants, floorNote, r.fixtureTime.Round(time.Second))

	if !o.noFloor {
		if err := measureFloor(ctx, r, dyn, tmpl, floorUIDs); err != nil {
			return err
		}
	}

	if err := measureOperator(ctx, r, c, cs, tr, mgr); err != nil {
		return err
	}
	printReport(r)
	return nil
}

// measureFloor writes what the operator wrote for the template tenant for every floor tenant,
// as fast as the API server takes it, o.floorRuns times (undoing each run but the last), then
// removes it again. F is the median run.
func measureFloor(ctx context.Context, r *result, dyn dynamic.Interface, tmpl *template, uids map[string]types.UID) error {
	o := r.o
	floorNS := make([]string, o.tenants)
	for i := range floorNS {
		floorNS[i] = tenantNamespace("f", i)
	}
	for run := range o.floorRuns {
		if run > 0 {
			if err := resetFloor(ctx, dyn, tmpl, floorNS, o.workers); err != nil {
				return err
			}
		}
		settleDisk()
		cpu0 := sampleCPU()
		d, err := runFloor(ctx, dyn, tmpl, floorNS, uids, o.workers)
		if err != nil {
			return err
		}
		r.floorRuns = append(r.floorRuns, d)
		r.floorLoad = max(r.floorLoad, otherLoad(cpu0, sampleCPU()))
		logf("floor run %d: %s", run+1, d.Round(10*time.Millisecond))
	}
	r.floor = median(r.floorRuns)
	logf("floor F: %s", r.floor.Round(10*time.Millisecond))
	return removeFloor(ctx, dyn, tmpl, floorNS, o.workers)
}

// settleDisk writes back what the kernel holds for the disk before a measured phase: etcd
// syncs every write, and the gigabytes of fixtures written before would otherwise be written
// back during whichever phase comes first.
func settleDisk() {
	start := time.Now()
	syscall.Sync()
	if d := time.Since(start); d > time.Second {
		logf("waited %s for the disk", d.Round(100*time.Millisecond))
	}
}

// median is the middle of an odd number of durations (percentile(ds, 0.5) rounds its rank
// up: of three runs it takes the slowest).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// measureOperator runs the manager cold on the waiting tenants, then idle, restarted and
// edited.
func measureOperator(ctx context.Context, r *result, c client.Client, cs kubernetes.Interface, tr *tracker, mgr func(string) (*managerProcess, error)) error {
	o := r.o
	before, err := apiserverRequests(ctx, cs)
	if err != nil {
		return err
	}
	settleDisk()
	cpu0 := sampleCPU()
	m, err := mgr("operator")
	if err != nil {
		return err
	}
	first := m
	defer func() { _ = first.stop() }()
	if err := settle(ctx, m, tr, "p-", o.tenants, float64(o.tenants), o.quiet); err != nil {
		return err
	}
	_, firstStatus, last := tr.span("p-")
	r.operator, r.firstStatus = last.Sub(m.started), firstStatus.Sub(m.started)
	r.opLoad = otherLoad(cpu0, sampleCPU())
	r.opCPU = float64(processTicks(m.pid())) / clockTicks
	after, err := apiserverRequests(ctx, cs)
	if err != nil {
		return err
	}
	r.requests = after.sub(before)
	if r.settledMem, err = readMemory(m.pid()); err != nil {
		return err
	}
	logf("operator P: %s; manager RSS %.0f MiB", r.operator.Round(10*time.Millisecond), mib(r.settledMem.rss))

	time.Sleep(o.idle)
	idle, err := apiserverRequests(ctx, cs)
	if err != nil {
		return err
	}
	r.idleWrites = idle.sub(after).total(writes)
	if r.idleMem, err = readMemory(m.pid()); err != nil {
		return err
	}
	logf("idle %s: %.0f writes", o.idle, r.idleWrites)

	if err := m.stop(); err != nil {
		return err
	}
	beforeRestart, err := apiserverRequests(ctx, cs)
	if err != nil {
		return err
	}
	if m, err = mgr("restart"); err != nil {
		return err
	}
	defer func() { _ = m.stop() }()
	// Every tenant, the template's too, is reconciled once after a restart.
	if err := settle(ctx, m, tr, "p-", o.tenants, float64(o.tenants+1), o.quiet); err != nil {
		return err
	}
	r.restartTime = time.Since(m.started) - o.quiet
	afterRestart, err := apiserverRequests(ctx, cs)
	if err != nil {
		return err
	}
	r.restartWrites = afterRestart.sub(beforeRestart).total(writes)
	if r.restartMem, err = readMemory(m.pid()); err != nil {
		return err
	}
	logf("restart: %.0f writes", r.restartWrites)
	if err := measureEdits(ctx, r, c, tr); err != nil {
		return err
	}
	if o.variant == "tls" && o.freshSamples > 0 {
		return measureFreshness(ctx, r, c, tr, r.reports, m)
	}
	return nil
}

// measureEdits changes the environments of single tenants, one at a time, and measures from
// the accepted update to the watch event of the status for the new generation.
func measureEdits(ctx context.Context, r *result, c client.Client, tr *tracker) error {
	for i := 0; i < r.o.edits; i++ {
		ns := tenantNamespace("p", i*r.o.tenants/r.o.edits)
		gt := &v1alpha1.GatewayTenant{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: tenantName}, gt); err != nil {
			return err
		}
		if len(gt.Spec.Environments) == 0 {
			gt.Spec.Environments = []v1alpha1.EnvironmentName{"test"}
		} else {
			gt.Spec.Environments = nil
		}
		if err := c.Update(ctx, gt); err != nil {
			return fmt.Errorf("editing %s/%s: %w", ns, tenantName, err)
		}
		accepted := time.Now()
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		seen, err := tr.waitObserved(wctx, ns, gt.Generation)
		cancel()
		if err != nil {
			return err
		}
		r.edits = append(r.edits, seen.Sub(accepted))
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s)) + 0.5)
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

// seconds lists durations as "1.23, 4.56 s".
func seconds(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.2f", d.Seconds())
	}
	return strings.Join(parts, ", ") + " s"
}

func printReport(r *result) {
	o := r.o
	n := float64(o.tenants)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("\nbench-operator: %d %s tenants, %d noise namespaces, floor with %d workers\n", o.tenants, o.variant, o.noise, o.workers)
	if o.managerArgs != "" || o.managerEnv != "" {
		fmt.Printf("manager: %s %s\n", o.managerEnv, o.managerArgs)
	}
	floorF, pf := "-", "-"
	if !o.noFloor {
		floorF, pf = fmt.Sprintf("%.1f", r.floor.Seconds()), fmt.Sprintf("%.2f", r.operator.Seconds()/r.floor.Seconds())
		fmt.Printf("floor F:            %.2f s, the median of %s (other load on the machine: up to %.0f %%)\n", r.floor.Seconds(), seconds(r.floorRuns), r.floorLoad)
	}
	fmt.Printf("operator P:         %.2f s cold start, the first status after %.2f s (other load: %.0f %%)\n", r.operator.Seconds(), r.firstStatus.Seconds(), r.opLoad)
	fmt.Printf("P/F:                %s\n", pf)
	fmt.Printf("manager CPU:        %.1f s for the cold start (%.2f ms per tenant)\n", r.opCPU, 1000*r.opCPU/n)
	fmt.Printf("requests per tenant: %.2f (writes %.2f, of them events %.2f; reads %.2f, of them ConfigMap GETs %.2f)\n",
		r.requests.total(all)/n, r.requests.total(writes)/n, r.requests.total(eventWrites)/n, r.requests.total(reads)/n, r.requests.total(configMapGets)/n)
	fmt.Printf("requests by verb:   %s\n", r.requests)
	fmt.Printf("manager memory:     RSS %.0f MiB settled, %.0f MiB after %s idle; high-water %.0f MiB\n",
		mib(r.settledMem.rss), mib(r.idleMem.rss), o.idle, mib(r.idleMem.hwm))
	fmt.Printf("idle writes:        %.0f over %s\n", r.idleWrites, o.idle)
	fmt.Printf("restart:            %.0f writes; settled in %.1f s; RSS %.0f MiB, high-water %.0f MiB\n",
		r.restartWrites, r.restartTime.Seconds(), mib(r.restartMem.rss), mib(r.restartMem.hwm))
	fmt.Printf("single edit:        p50 %s, p99 %s, max %s over %d edits\n",
		ms(percentile(r.edits, 0.5)), ms(percentile(r.edits, 0.99)), ms(percentile(r.edits, 1)), len(r.edits))
	fresh := "-"
	if f := r.fresh; f != nil {
		fmt.Printf("proxy reports:      %d replicas, all verified %.1f s after their endpoints appeared; settled %.2f requests per replica per minute (%.0f %% answered 304), manager CPU %.1f %% of a core, RSS %.0f MiB\n",
			f.replicas, f.verifyAll.Seconds(), perReplicaMinute(f), 100*float64(f.notMod)/float64(max(f.requests, 1)),
			100*f.cpuSeconds/f.window.Seconds(), mib(f.rssWindow.rss))
		fmt.Printf("failure -> status:  p50 %.1f s, p99 %.1f s, max %.1f s over %d tenants (%d not seen within 5 min)\n",
			percentile(f.latencies, 0.5).Seconds(), percentile(f.latencies, 0.99).Seconds(), percentile(f.latencies, 1).Seconds(), len(f.latencies), f.timeouts)
		fresh = fmt.Sprintf("%.1f", percentile(f.latencies, 0.99).Seconds())
	}
	fmt.Println("\n| tenants | variant | noise ns | F s | P s | P/F | req/tenant | writes/tenant | RSS MiB | HWM MiB | idle writes | restart writes | restart HWM MiB | edit p99 ms | fresh p99 s | other load F/P |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	fmt.Printf("| %d | %s | %d | %s | %.1f | %s | %.2f | %.2f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %.0f/%.0f %% |\n",
		o.tenants, o.variant, o.noise, floorF, r.operator.Seconds(), pf,
		r.requests.total(all)/n, r.requests.total(writes)/n, mib(r.idleMem.rss), mib(r.idleMem.hwm), r.idleWrites, r.restartWrites,
		mib(r.restartMem.hwm), float64(percentile(r.edits, 0.99).Microseconds())/1000, fresh, r.floorLoad, r.opLoad)
}
