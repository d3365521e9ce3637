package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// EnvPrefix starts the environment variable of every flag: --proxy-replicas is
// GATEWAYTENANT_PROXY_REPLICAS. Under OLM a Subscription's spec.config.env is the only way
// to configure the manager, so every flag has one; a flag given on the command line wins.
const EnvPrefix = "GATEWAYTENANT_"

// legacyProxyImageEnv is the environment variable that set the proxy image before every flag
// had one. It still works, below GATEWAYTENANT_PROXY_IMAGE; it is deprecated.
const legacyProxyImageEnv = "PROXY_IMAGE"

// defaultProxyImage is the operator's own image, which also holds the proxy; the build sets it.
var defaultProxyImage = "quay.io/gatewaytenant/gatewaytenant-operator:latest"

// EnvName is the environment variable of a flag.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// config is what the command line and the environment say.
type config struct {
	manager manager.Options
	zap     zap.Options
	// warnings are said once the logger exists (deprecated variables).
	warnings []string
	// monitoringSelector is --monitoring-namespace-selector, parsed after the flags.
	monitoringSelector string
	// Proxy sizing flags, parsed after the flags.
	proxyResources, proxyMaxResources string
	maxReplicas                       *int
	qps                               float64
}

// defaultProxyResources are gatewaytenant.DefaultProxyResources as a flag value.
const defaultProxyResources = "requests.cpu=50m,requests.memory=64Mi,limits.cpu=1,limits.memory=256Mi"

// defaultMonitoringSelector selects OpenShift's monitoring namespaces (platform and
// user-workload monitoring); elsewhere label the namespace of the Prometheus that scrapes
// the proxies, or change the selector.
const defaultMonitoringSelector = "network.openshift.io/policy-group=monitoring"

// newFlagSet defines every flag of the manager on a fresh flag set, with its defaults, filling
// c when parsed. Flags registered elsewhere on the global flag set (controller-runtime's
// --kubeconfig) are added by parse.
func newFlagSet(c *config) (*flag.FlagSet, *int) {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o := &c.manager
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", `Address of the metrics endpoint; "0" disables it.`)
	fs.BoolVar(&o.SecureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with Kubernetes authentication and authorization.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	fs.BoolVar(&o.LeaderElection, "leader-elect", false, "Elect a leader so that only one replica acts at a time.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election lease (default: the manager's own).")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false, "Allow HTTP/2 on the metrics server.")
	fs.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "",
		"Directory with tls.crt and tls.key for the metrics server (e.g. an OpenShift serving certificate); without them it uses a self-signed one.")
	fs.StringVar(&o.DataPlanePreset, "data-plane-preset", "",
		fmt.Sprintf("Keep the default GatewayDataPlane of a built-in preset: one of %s. Wins over detection.", strings.Join(dataplane.PresetNames(), ", ")))
	fs.BoolVar(&o.DetectDataPlanePreset, "detect-data-plane-preset", true,
		"Without --data-plane-preset: on OpenShift, pick the preset whose --preset-domains suffix the cluster's domain ends with.")
	o.PresetDomains = dataplane.DefaultDomainPresets()
	fs.Var(&o.PresetDomains, "preset-domains", "Cluster domain suffixes and their presets for detection, as suffix=preset,...")
	fs.StringVar(&o.Proxy.Image, "proxy-image", defaultProxyImage,
		"Image of the TLS proxy run for tenants (it holds /proxy); default: the operator's own image.")
	replicas := fs.Int("proxy-replicas", 2, "Replicas of each tenant's proxy Deployment; above 1 they get a PodDisruptionBudget.")
	fs.Var(&o.Proxy.ClusterDNS, "cluster-dns",
		`Where the proxies resolve names, opened by their egress NetworkPolicy: "auto" (OpenShift's openshift-dns on 5353 when the cluster is OpenShift, else kube-system k8s-app=kube-dns on 53), "openshift", "kube-dns", or <namespace>/<label>=<value>,...:<port>.`)
	fs.StringVar(&o.OperatorNamespace, "operator-namespace", ownNamespace(),
		"The manager's namespace, admitted to the proxies' admin port to read their state; default: $POD_NAMESPACE, else the pod's service account namespace.")
	fs.DurationVar(&o.CertificateExpiryWarning, "certificate-expiry-warning", 30*24*time.Hour,
		"Warn tenants (CertificateExpiringSoon) this long before a CA or client certificate expires.")
	maxReplicas := fs.Int("proxy-max-replicas", 10, "The most replicas a tenant may ask for its proxy (spec.proxy.replicas).")
	fs.StringVar(&c.proxyResources, "proxy-resources", defaultProxyResources,
		"The proxy container's default resources, as requests.cpu=...,requests.memory=...,limits.cpu=...,limits.memory=...")
	fs.StringVar(&c.proxyMaxResources, "proxy-max-resources", "cpu=2,memory=1Gi",
		"The most cpu and memory a tenant may request or limit its proxy to (spec.proxy.resources), as cpu=...,memory=...; empty: no bound.")
	c.maxReplicas = maxReplicas
	fs.Float64Var(&o.ProxyRolloutsPerMinute, "proxy-rollouts-per-minute", 10,
		"At most this many existing proxies change image a minute (after an operator upgrade); 0: no bound.")
	fs.IntVar(&o.ProxyRolloutBurst, "proxy-rollout-burst", gatewaytenant.DefaultRolloutBurst,
		"Proxies that may change image at once; above 1, up to this many less one more than --proxy-rollouts-per-minute change in the first minute.")
	fs.StringVar(&c.monitoringSelector, "monitoring-namespace-selector", defaultMonitoringSelector,
		"Label selector of the namespaces whose Prometheus may scrape the proxies' admin port; empty: none.")
	fs.BoolVar(&o.Proxy.Monitoring.PodMonitors, "proxy-pod-monitors", true,
		"Create a PodMonitor per tenant proxy when the monitoring.coreos.com PodMonitor CRD is installed (checked at start).")
	fs.IntVar(&o.Workers, "workers", manager.DefaultWorkers, "Tenants reconciled at once.")
	fs.Float64Var(&c.qps, "kube-api-qps", 0,
		"Client-side limit of requests per second to the API server; 0: none, the API server's priority and fairness applies.")
	fs.IntVar(&o.ClientBurst, "kube-api-burst", 0, "Requests allowed at once above --kube-api-qps (at least --kube-api-qps).")
	fs.BoolVar(&o.APICompression, "kube-api-compression", false,
		"Ask the API server to gzip its responses; off: the manager runs beside it, where gzip costs both more CPU than it saves.")
	c.zap.BindFlags(fs)
	return fs, replicas
}

// parse reads the command line and then, for every flag the command line did not set, its
// environment variable (lookupEnv is os.LookupEnv outside tests). global holds flags other
// packages registered (controller-runtime's --kubeconfig); they get environment variables too.
func parse(args []string, lookupEnv func(string) (string, bool), global *flag.FlagSet, out io.Writer) (*config, error) {
	c := &config{}
	fs, replicas := newFlagSet(c)
	fs.SetOutput(out)
	if global != nil {
		global.VisitAll(func(f *flag.Flag) {
			if fs.Lookup(f.Name) == nil {
				fs.Var(f.Value, f.Name, f.Usage)
			}
		})
	}
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += fmt.Sprintf(" [$%s]", EnvName(f.Name))
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: the manager takes flags only", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookupEnv(name)
		if !ok && f.Name == "proxy-image" {
			if v, ok = lookupEnv(legacyProxyImageEnv); ok {
				name = legacyProxyImageEnv
				c.warnings = append(c.warnings, fmt.Sprintf("$%s is deprecated: set $%s (or --proxy-image) instead", legacyProxyImageEnv, EnvName(f.Name)))
			}
		}
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("$%s (--%s): %w", name, f.Name, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if *replicas < 1 || *replicas > 100 {
		return nil, fmt.Errorf("--proxy-replicas ($%s): must be between 1 and 100, got %d", EnvName("proxy-replicas"), *replicas)
	}
	c.manager.Proxy.Replicas = int32(*replicas)
	if c.monitoringSelector != "" {
		sel, err := metav1.ParseToLabelSelector(c.monitoringSelector)
		if err != nil {
			return nil, fmt.Errorf("--monitoring-namespace-selector ($%s): %w", EnvName("monitoring-namespace-selector"), err)
		}
		c.manager.Proxy.Monitoring.NamespaceSelector = sel
	}
	if o := &c.manager; o.Workers < 1 || o.Workers > 64 {
		return nil, fmt.Errorf("--workers ($%s): must be between 1 and 64, got %d", EnvName("workers"), o.Workers)
	}
	if c.qps < 0 || c.manager.ClientBurst < 0 {
		return nil, fmt.Errorf("--kube-api-qps and --kube-api-burst: must not be negative, got %g and %d", c.qps, c.manager.ClientBurst)
	}
	c.manager.ClientQPS = float32(c.qps)
	if err := c.parseSizing(); err != nil {
		return nil, err
	}
	if c.manager.ProxyRolloutsPerMinute < 0 || c.manager.ProxyRolloutBurst < 1 {
		return nil, fmt.Errorf("--proxy-rollouts-per-minute must be 0 or more and --proxy-rollout-burst 1 or more, got %g and %d",
			c.manager.ProxyRolloutsPerMinute, c.manager.ProxyRolloutBurst)
	}
	return c, nil
}

// parseSizing reads the proxy sizing flags into the manager's options.
func (c *config) parseSizing() error {
	p := &c.manager.Proxy
	if *c.maxReplicas < 1 || *c.maxReplicas > 100 || int32(*c.maxReplicas) < p.Replicas {
		return fmt.Errorf("--proxy-max-replicas ($%s): must be between --proxy-replicas (%d) and 100, got %d",
			EnvName("proxy-max-replicas"), p.Replicas, *c.maxReplicas)
	}
	p.MaxReplicas = int32(*c.maxReplicas)
	p.Resources = corev1.ResourceRequirements{}
	err := parseResourceList(c.proxyResources, func(key string, q resource.Quantity) error {
		kind, name, _ := strings.Cut(key, ".")
		switch {
		case kind == "requests" && validResource(name):
			p.Resources.Requests = set(p.Resources.Requests, name, q)
		case kind == "limits" && validResource(name):
			p.Resources.Limits = set(p.Resources.Limits, name, q)
		default:
			return fmt.Errorf("%q: want requests.cpu, requests.memory, limits.cpu or limits.memory", key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("--proxy-resources ($%s): %w", EnvName("proxy-resources"), err)
	}
	p.MaxResources = nil
	err = parseResourceList(c.proxyMaxResources, func(key string, q resource.Quantity) error {
		if !validResource(key) {
			return fmt.Errorf("%q: want cpu or memory", key)
		}
		p.MaxResources = set(p.MaxResources, key, q)
		return nil
	})
	if err != nil {
		return fmt.Errorf("--proxy-max-resources ($%s): %w", EnvName("proxy-max-resources"), err)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("--proxy-resources ($%s) and --proxy-max-resources ($%s): %w",
			EnvName("proxy-resources"), EnvName("proxy-max-resources"), err)
	}
	return nil
}

func validResource(name string) bool {
	return name == string(corev1.ResourceCPU) || name == string(corev1.ResourceMemory)
}

func set(l corev1.ResourceList, name string, q resource.Quantity) corev1.ResourceList {
	if l == nil {
		l = corev1.ResourceList{}
	}
	l[corev1.ResourceName(name)] = q
	return l
}

// parseResourceList calls each for every key=quantity of a comma-separated list.
func parseResourceList(s string, each func(key string, q resource.Quantity) error) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return fmt.Errorf("%q: want key=quantity", kv)
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if err := each(k, q); err != nil {
			return err
		}
	}
	return nil
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
