package dataplane

// Detection finds out which cluster the manager runs on, so that it can keep the right
// default GatewayDataPlane without being told: on OpenShift it reads the cluster's DNS and
// Infrastructure configuration (config.openshift.io/v1) and matches the cluster's domain
// against known suffixes. On plain Kubernetes it detects nothing and says so.

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClusterConfigName is the name of OpenShift's cluster-wide configuration singletons.
const ClusterConfigName = "cluster"

// ReasonExplicit is the reason of a preset named by --data-plane-preset.
const ReasonExplicit = "set by --data-plane-preset"

// Options say how to choose the data-plane preset.
type Options struct {
	// Preset, when set, is the preset to keep; detection does not run.
	Preset string
	// Detect turns detection on when Preset is empty.
	Detect bool
	// Domains maps cluster domain suffixes to presets for detection.
	Domains DomainPresets
}

// Choice is the preset the manager keeps (empty: none) and a sentence saying why, for the log
// and the GatewayDataPlane's status.
type Choice struct {
	Preset string
	Reason string
}

// +kubebuilder:rbac:groups=config.openshift.io,resources=dnses;infrastructures,resourceNames=cluster,verbs=get

// Choose decides which preset the manager keeps: the explicit one, else the detected one,
// else none. It reads the API directly (no cache), so it can run before the manager starts.
// Not being on OpenShift, or a domain no suffix matches, is no error: the choice is empty
// and its reason says why. Errors are failures to ask the API server.
func Choose(ctx context.Context, cfg *rest.Config, o Options) (Choice, error) {
	if o.Preset != "" {
		if err := ValidatePreset(o.Preset); err != nil {
			return Choice{}, err
		}
		return Choice{Preset: o.Preset, Reason: ReasonExplicit}, nil
	}
	if !o.Detect {
		return Choice{Reason: "no --data-plane-preset given and detection is off (--detect-data-plane-preset=false)"}, nil
	}
	return Detect(ctx, cfg, o.Domains)
}

// domainSource is one place of OpenShift's cluster configuration that holds the cluster's
// domain.
type domainSource struct {
	resource string // as discovery lists it
	field    string // for reasons
	read     func(context.Context, client.Reader) (string, error)
}

var domainSources = []domainSource{
	{
		resource: "dnses",
		field:    `DNS "cluster" spec.baseDomain`,
		read: func(ctx context.Context, c client.Reader) (string, error) {
			dns := &configv1.DNS{}
			if err := c.Get(ctx, client.ObjectKey{Name: ClusterConfigName}, dns); err != nil {
				return "", err
			}
			return dns.Spec.BaseDomain, nil
		},
	},
	{
		resource: "infrastructures",
		field:    `Infrastructure "cluster" status.apiServerURL`,
		read: func(ctx context.Context, c client.Reader) (string, error) {
			infra := &configv1.Infrastructure{}
			if err := c.Get(ctx, client.ObjectKey{Name: ClusterConfigName}, infra); err != nil {
				return "", err
			}
			// An unparsable URL is returned as it is: no suffix matches it, and the reason
			// shows it.
			if u, err := url.Parse(infra.Status.APIServerURL); err == nil && u.Hostname() != "" {
				return u.Hostname(), nil
			}
			return infra.Status.APIServerURL, nil
		},
	},
}

// Detect matches the OpenShift cluster's domain (DNS "cluster" spec.baseDomain, then the host
// of Infrastructure "cluster" status.apiServerURL) against domains.
func Detect(ctx context.Context, cfg *rest.Config, domains DomainPresets) (Choice, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return Choice{}, fmt.Errorf("creating discovery client: %w", err)
	}
	list, err := dc.ServerResourcesForGroupVersion(configv1.GroupVersion.String())
	if apierrors.IsNotFound(err) {
		return Choice{Reason: "not an OpenShift cluster (the API server does not serve config.openshift.io/v1): nothing detected"}, nil
	}
	if err != nil {
		return Choice{}, fmt.Errorf("discovering %s: %w", configv1.GroupVersion, err)
	}
	served := map[string]bool{}
	for _, r := range list.APIResources {
		served[r.Name] = true
	}

	scheme := runtime.NewScheme()
	if err := configv1.Install(scheme); err != nil {
		return Choice{}, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return Choice{}, fmt.Errorf("creating client: %w", err)
	}
	var seen []string
	for _, src := range domainSources {
		if !served[src.resource] {
			continue
		}
		domain, err := src.read(ctx, c)
		switch {
		case apierrors.IsNotFound(err):
			seen = append(seen, src.field+": object not found")
			continue
		case err != nil:
			return Choice{}, fmt.Errorf("reading %s: %w", src.field, err)
		case domain == "":
			seen = append(seen, src.field+": empty")
			continue
		}
		if suffix, preset, ok := domains.Match(domain); ok {
			return Choice{Preset: preset, Reason: fmt.Sprintf("detected on OpenShift: %s %q ends in %q (--preset-domains)", src.field, domain, suffix)}, nil
		}
		seen = append(seen, fmt.Sprintf("%s %q", src.field, domain))
	}
	if len(seen) == 0 {
		seen = append(seen, "neither DNS nor Infrastructure is served")
	}
	return Choice{Reason: fmt.Sprintf("OpenShift cluster, but no --preset-domains suffix (%s) matches: %s",
		domains, strings.Join(seen, "; "))}, nil
}
