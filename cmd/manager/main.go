// Command manager runs the gatewaytenant operator.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// defaultProxyImage is the operator's own image, which also holds the proxy; the build sets it.
var defaultProxyImage = "quay.io/gatewaytenant/gatewaytenant-operator:latest"

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// ownNamespace is the pod's namespace: $POD_NAMESPACE, else the one of its service account
// token, else "" (outside a cluster).
func ownNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	data, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func main() {
	var o manager.Options
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", `Address of the metrics endpoint; "0" disables it.`)
	flag.BoolVar(&o.SecureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with Kubernetes authentication and authorization.")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "Elect a leader so that only one replica acts at a time.")
	flag.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election lease (default: the manager's own).")
	flag.BoolVar(&o.EnableHTTP2, "enable-http2", false, "Allow HTTP/2 on the metrics server.")
	flag.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "",
		"Directory with tls.crt and tls.key for the metrics server (e.g. an OpenShift serving certificate); without them it uses a self-signed one.")
	flag.StringVar(&o.DataPlanePreset, "data-plane-preset", "",
		fmt.Sprintf("Keep the default GatewayDataPlane of a built-in preset: one of %s. Wins over detection.", strings.Join(dataplane.PresetNames(), ", ")))
	flag.BoolVar(&o.DetectDataPlanePreset, "detect-data-plane-preset", true,
		"Without --data-plane-preset: on OpenShift, pick the preset whose --preset-domains suffix the cluster's domain ends with.")
	o.PresetDomains = dataplane.DefaultDomainPresets()
	flag.Var(&o.PresetDomains, "preset-domains", "Cluster domain suffixes and their presets for detection, as suffix=preset,...")
	flag.StringVar(&o.Proxy.Image, "proxy-image", envOr("PROXY_IMAGE", defaultProxyImage),
		"Image of the TLS proxy run for tenants (it holds /proxy); default: $PROXY_IMAGE, else the operator's own image.")
	proxyReplicas := flag.Int("proxy-replicas", 2, "Replicas of each tenant's proxy Deployment; above 1 they get a PodDisruptionBudget.")
	flag.Var(&o.Proxy.ClusterDNS, "cluster-dns",
		`Where the proxies resolve names, opened by their egress NetworkPolicy: "auto" (OpenShift's openshift-dns on 5353 when the cluster is OpenShift, else kube-system k8s-app=kube-dns on 53), "openshift", "kube-dns", or <namespace>/<label>=<value>,...:<port>.`)
	flag.DurationVar(&o.CertificateExpiryWarning, "certificate-expiry-warning", 30*24*time.Hour,
		"Warn tenants (CertificateExpiringSoon) this long before a CA or client certificate expires.")
	flag.IntVar(&o.Workers, "workers", manager.DefaultWorkers, "Tenants reconciled at once.")
	qps := flag.Float64("kube-api-qps", 0,
		"Client-side limit of requests per second to the API server; 0: none, the API server's priority and fairness applies.")
	flag.IntVar(&o.ClientBurst, "kube-api-burst", 0, "Requests allowed at once above --kube-api-qps (at least --kube-api-qps).")
	flag.StringVar(&o.OperatorNamespace, "operator-namespace", ownNamespace(),
		"The manager's namespace, admitted to the proxies' admin port to read their state; default: $POD_NAMESPACE, else the pod's service account namespace.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if err := fromEnvironment("workers", "kube-api-qps", "kube-api-burst"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if o.Workers < 1 || o.Workers > 64 {
		fmt.Fprintf(os.Stderr, "--workers ($GATEWAYTENANT_WORKERS): must be between 1 and 64, got %d\n", o.Workers)
		os.Exit(2)
	}
	if *qps < 0 || o.ClientBurst < 0 {
		fmt.Fprintf(os.Stderr, "--kube-api-qps and --kube-api-burst: must not be negative, got %g and %d\n", *qps, o.ClientBurst)
		os.Exit(2)
	}
	o.ClientQPS = float32(*qps)
	if *proxyReplicas < 1 || *proxyReplicas > 100 {
		fmt.Fprintf(os.Stderr, "--proxy-replicas: must be between 1 and 100, got %d\n", *proxyReplicas)
		os.Exit(2)
	}
	o.Proxy.Replicas = int32(*proxyReplicas)
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	ctx := ctrl.SetupSignalHandler()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "Unable to load a kubeconfig")
		os.Exit(1)
	}
	mgr, err := manager.New(ctx, cfg, o)
	if err != nil {
		log.Error(err, "Unable to set up the manager")
		os.Exit(1)
	}
	log.Info("Starting manager")
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "Manager stopped")
		os.Exit(1)
	}
}

// fromEnvironment sets each named flag that the command line left out from
// $GATEWAYTENANT_<FLAG> (--workers: $GATEWAYTENANT_WORKERS), where that is set.
func fromEnvironment(names ...string) error {
	given := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, name := range names {
		env := "GATEWAYTENANT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		v, ok := os.LookupEnv(env)
		if !ok || given[name] {
			continue
		}
		if err := flag.Set(name, v); err != nil {
			return fmt.Errorf("$%s: %w", env, err)
		}
	}
	return nil
}
