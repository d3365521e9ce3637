// Package manager assembles the operator: scheme, caches, controllers and servers. cmd/manager
// and the test suites build the manager through New, so tests run the real thing.
package manager

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
	domainmetrics "github.com/gatewaytenant/gatewaytenant-operator/internal/metrics"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/refcache"
)

// Options configure the manager. The zero value is not useful; cmd/manager fills it from
// flags.
type Options struct {
	// MetricsAddr is where metrics are served ("0" disables them).
	MetricsAddr string
	// SecureMetrics serves metrics over HTTPS behind Kubernetes authentication and
	// authorization.
	SecureMetrics bool
	// ProbeAddr is where /healthz and /readyz are served ("0" disables them).
	ProbeAddr string
	// LeaderElection makes only one replica act at a time.
	LeaderElection bool
	// LeaderElectionNamespace holds the lease; empty means the manager's own namespace.
	LeaderElectionNamespace string
	// EnableHTTP2 allows HTTP/2 on the metrics server; off by default because of the HTTP/2
	// stream cancellation and rapid reset vulnerabilities.
	EnableHTTP2 bool
	// MetricsCertDir, when set, holds tls.crt and tls.key for the metrics server (on
	// OpenShift: the service CA's serving certificate). Without them the server uses a
	// self-signed certificate.
	MetricsCertDir string
	// DataPlanePreset, when set, names the built-in preset kept as the default
	// GatewayDataPlane; it wins over detection.
	DataPlanePreset string
	// DetectDataPlanePreset, when DataPlanePreset is empty, picks the preset from the
	// OpenShift cluster's domain through PresetDomains. On plain Kubernetes it finds none.
	DetectDataPlanePreset bool
	// PresetDomains maps cluster domain suffixes to presets for detection.
	PresetDomains dataplane.DomainPresets
	// Proxy configures the TLS proxy the operator runs for tenants with TLS upstreams.
	Proxy gatewaytenant.ProxySettings
	// CertificateExpiryWarning is how long before a certificate expires that tenants are
	// warned (condition reason CertificateExpiringSoon).
	CertificateExpiryWarning time.Duration
	// ProxyRolloutsPerMinute bounds how many proxies change image a minute (0: no bound), in
	// bursts of up to ProxyRolloutBurst (gatewaytenant.DefaultRolloutBurst when zero).
	ProxyRolloutsPerMinute float64
	ProxyRolloutBurst      int
	// Workers is how many tenants are reconciled at once (DefaultWorkers when zero).
	Workers int
	// ClientQPS and ClientBurst limit the manager's requests to the API server on the client
	// side; zero QPS means no client-side limit, leaving it to the API server's priority and
	// fairness.
	ClientQPS   float32
	ClientBurst int
	// APICompression asks the API server to gzip its responses. Off by default: the manager
	// runs beside its API server, where compressing costs both sides more CPU than it saves
	// time (kube-controller-manager and kube-scheduler turn it off for the same reason). At
	// 4,000 unrelated namespaces, the gzip of the initial watch of Services alone was 0.4 s of
	// the API server's CPU and 0.2 s of the manager's (docs/benchmarks.md). A kubeconfig's
	// disable-compression still applies when this is on.
	APICompression bool
	// OperatorNamespace is the manager's own namespace: the NetworkPolicy of each proxy
	// admits it to the proxy's admin port. Empty: no such policy is written (the proxies'
	// state can then only be read where ingress is not denied by default).
	OperatorNamespace string
	// ProxyStatePoll configures how the proxies' state is read; zero fields take the
	// defaults of proxystate.Poller.
	ProxyStatePoll ProxyStatePoll

	// Harness holds the seams of the tests and the demo, which run the real manager in one
	// process against a local control plane (harness.go); nil in production.
	Harness *Harness
}

// ProxyStatePoll configures the reading of the proxies' state reports.
type ProxyStatePoll struct {
	// Interval between two readings of one tenant's proxy replicas (default 30s).
	Interval time.Duration
	// QPS, when set, bounds the requests to all proxies together to a fixed rate; by default
	// the rate follows the number of ready proxy replicas, so that each is read every
	// Interval (proxystate.MinQPS, proxystate.Headroom).
	QPS float32
}

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Scheme returns a scheme with every type the operator reads or writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	utilruntime.Must(monitoringv1.AddToScheme(s))
	utilruntime.Must(gwapiv1.Install(s))
	return s
}

// DefaultWorkers is how many tenants are reconciled at once by default. A reconcile mostly
// waits on the API server. On a quiet two-core machine 16 workers brought a cold start at
// 10,000 tenants to 1.12 times the API server's own write speed, against 1.26-1.27 with 8,
// and made no difference at 1,000 (docs/benchmarks.md, "Operator at scale, part three").
const DefaultWorkers = 16

// New builds the manager with every controller registered.
func New(ctx context.Context, cfg *rest.Config, o Options) (ctrl.Manager, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side limit
	if o.ClientQPS > 0 {
		cfg.QPS, cfg.Burst = o.ClientQPS, max(o.ClientBurst, int(o.ClientQPS))
	}
	if !o.APICompression {
		cfg.DisableCompression = true
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if err := o.Proxy.Validate(); err != nil {
		return nil, fmt.Errorf("proxy settings: %w", err)
	}
	var tlsOpts []func(*tls.Config)
	if !o.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metrics := metricsserver.Options{BindAddress: o.MetricsAddr, SecureServing: o.SecureMetrics, TLSOpts: tlsOpts, CertDir: o.MetricsCertDir}
	if o.SecureMetrics {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	// Before the manager exists: detection reads the API directly, not through a cache.
	preset, err := learnPlatform(ctx, cfg, &o)
	if err != nil {
		return nil, err
	}
	backendTLSPolicies, err := hasBackendTLSPolicies(ctx, cfg)
	if err != nil {
		return nil, err
	}

	scheme := Scheme()
	refs := &gatewaytenant.References{}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metrics,
		WebhookServer:           webhook.NewServer(webhook.Options{TLSOpts: tlsOpts}),
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "gatewaytenant-operator.gatewaytenant.io",
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		// The manager exits as soon as Start returns, so handing the lease back on shutdown
		// is safe, and spares a new replica the wait for the lease to expire (~15 s).
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOptions(o.Proxy.Monitoring.PodMonitors, backendTLSPolicies, scheme, refs),
		Client: client.Options{Cache: &client.CacheOptions{
			// Never cache the contents of ConfigMaps or ClusterTrustBundles: referenced ones
			// are read directly, one at a time; the manager watches only their metadata. The
			// operator reads no Secret; should code ever ask for one, it goes to the API
			// server (which denies it) instead of starting a cache of every Secret.
			DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}, &certificatesv1.ClusterTrustBundle{}},
		}},
		NewClient:  o.Harness.newClient(),
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(o.Harness.secondManager())},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	refs.Bind(mgr.GetCache())
	configMaps, err := cache.New(cfg, referencedConfigMapOptions(scheme, mgr.GetRESTMapper(), mgr.GetHTTPClient(), refs))
	if err != nil {
		return nil, fmt.Errorf("creating the cache of referenced ConfigMaps: %w", err)
	}
	if err := mgr.Add(configMaps); err != nil {
		return nil, err
	}
	o.Harness.referencedConfigMaps(configMaps)
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}

	if err := addControllers(ctx, mgr, configMaps, scheme, o, preset, backendTLSPolicies); err != nil {
		return nil, err
	}
	return mgr, nil
}

// addControllers registers the domain metrics and every controller: the tenants', the data
// planes' environments and upstream TLS, the proxy state poller and, with a preset, the
// preset's. configMaps is the cache of the ConfigMaps tenants reference; backendTLSPolicies
// says whether the API server serves BackendTLSPolicies.
func addControllers(ctx context.Context, mgr ctrl.Manager, configMaps cache.Cache, scheme *runtime.Scheme, o Options, preset dataplane.Choice, backendTLSPolicies bool) error {
	certs := domainmetrics.NewCertificates()
	tenantCount := domainmetrics.NewTenants()
	tenantInformer, err := mgr.GetCache().GetInformer(ctx, &v1alpha1.GatewayTenant{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("getting the tenant informer: %w", err)
	}
	if err := tenantCount.Watch(tenantInformer); err != nil {
		return err
	}
	if err := registerMetrics(tenantCount, certs.Collector()); err != nil {
		return err
	}

	states := proxystate.NewStore()
	tenants := &gatewaytenant.Reconciler{
		Client:     mgr.GetClient(),
		CertReader: mgr.GetAPIReader(),
		APIReader:  mgr.GetAPIReader(),
		Cache:      mgr.GetCache(),
		Referenced: &refcache.Reader{Cache: mgr.GetCache(), Caches: map[schema.GroupKind]cache.Cache{configMapKind: configMaps},
			Direct: mgr.GetAPIReader(), Scheme: scheme},
		ReferencedConfigMaps: configMaps,
		Scheme:               scheme,
		Recorder:             mgr.GetEventRecorder(gatewaytenant.ControllerName),
		Clock:                clock.RealClock{},
		Proxy:                o.Proxy,
		ExpiryWarning:        o.CertificateExpiryWarning,
		Workers:              o.Workers,
		ProxyStates:          states,
		OperatorNamespace:    o.OperatorNamespace,
		BackendTLSPolicies:   backendTLSPolicies,
		Certificates:         certs,
		Rollout:              gatewaytenant.NewRollout(o.ProxyRolloutsPerMinute, cmp.Or(o.ProxyRolloutBurst, gatewaytenant.DefaultRolloutBurst)),
	}
	if err := tenants.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up GatewayTenant controller: %w", err)
	}
	if err := (&dataplane.EnvironmentsReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up GatewayDataPlane environments: %w", err)
	}
	if err := (&dataplane.UpstreamTLSReconciler{Client: mgr.GetClient(), BackendTLSPolicies: backendTLSPolicies}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up GatewayDataPlane upstream TLS: %w", err)
	}
	poller := &proxystate.Poller{Client: mgr.GetClient(), Store: states, Interval: o.ProxyStatePoll.Interval}
	o.Harness.reachProxies(poller)
	if o.ProxyStatePoll.QPS > 0 {
		poller.Limiter = flowcontrol.NewTokenBucketRateLimiter(o.ProxyStatePoll.QPS, max(1, int(o.ProxyStatePoll.QPS)))
	}
	if err := poller.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the proxy state poller: %w", err)
	}
	if preset.Preset != "" {
		presets := &dataplane.PresetReconciler{Client: mgr.GetClient(), Preset: preset.Preset, Reason: preset.Reason}
		if err := presets.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up data-plane preset: %w", err)
		}
	}
	return nil
}

// registerMetrics registers the manager's domain metrics with controller-runtime's registry,
// which its metrics endpoint serves. A collector of an earlier manager in the same process
// (tests start several) is replaced.
func registerMetrics(cs ...prometheus.Collector) error {
	for _, c := range cs {
		err := ctrlmetrics.Registry.Register(c)
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			ctrlmetrics.Registry.Unregister(are.ExistingCollector)
			err = ctrlmetrics.Registry.Register(c)
		}
		if err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}
