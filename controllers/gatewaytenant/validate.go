package gatewaytenant

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/metrics"
)

// upstreamResult is what one upstream of the spec is, judged against what was read: usable
// or not and why, and, when usable, which pods and ports the gateway must reach.
type upstreamResult struct {
	upstream v1alpha1.Upstream
	// podSelector and ports are set when the upstream is valid.
	podSelector map[string]string
	ports       []networkingv1.NetworkPolicyPort
	// reason is ReasonReady when the upstream is valid, the reason it is not otherwise;
	// detail says what is wrong (or, when valid, how the gateway reaches it), without the
	// upstream's name.
	reason string
	detail string
	// warning, on a valid upstream, says a certificate expires soon (without the upstream's
	// name); notAfter is the soonest expiry of its certificates (zero for plain upstreams).
	warning  string
	notAfter time.Time
	// certRefs are the expiries of the certificates the upstream references (metrics).
	certRefs []metrics.CertificateRef
}

func (u upstreamResult) valid() bool { return u.reason == v1alpha1.ReasonReady }

// message is what status says of the upstream: its name, then the detail.
func (u upstreamResult) message() string { return upstreamSays(u.upstream.Name, u.detail) }

// upstreamSays prefixes what is said of an upstream with its name, as every message about
// one upstream starts.
func upstreamSays(name, detail string) string { return fmt.Sprintf("upstream %q: %s", name, detail) }

// splitHost splits an upstream host "<service>.<namespace>.svc" into its parts. The schema
// guarantees the form; anything else yields empty parts.
func splitHost(host string) (service, namespace string) {
	parts := strings.Split(host, ".")
	if len(parts) != 3 || parts[2] != "svc" {
		return "", ""
	}
	return parts[0], parts[1]
}

// checkUpstream validates an upstream of a tenant in namespace against its Service (nil when
// the Service does not exist). The first failing check decides the reason.
func checkUpstream(namespace string, u v1alpha1.Upstream, svc *corev1.Service) upstreamResult {
	res := upstreamResult{upstream: u}
	service, hostNamespace := splitHost(u.Host)
	switch {
	case hostNamespace != namespace:
		res.reason = v1alpha1.ReasonHostNotInNamespace
		res.detail = fmt.Sprintf("host %q names namespace %q, but a tenant can only expose Services of its own namespace %q; use %s.%s.svc",
			u.Host, hostNamespace, namespace, service, namespace)
	case svc == nil:
		res.reason = v1alpha1.ReasonServiceNotFound
		res.detail = fmt.Sprintf("Service %q not found in namespace %q", service, namespace)
	case servicePort(svc, u.Port) == nil:
		res.reason = v1alpha1.ReasonPortNotFound
		res.detail = fmt.Sprintf("port %d is not a port of Service %q; its ports are %s", u.Port, service, describePorts(svc))
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		res.reason = v1alpha1.ReasonExternalNameService
		res.detail = fmt.Sprintf("Service %q is of type ExternalName (%s): it has no pods here that a NetworkPolicy could open, "+
			"and the gateway would leave the cluster through it; point the gateway at %s directly, or use a Service with a selector",
			service, svc.Spec.ExternalName, svc.Spec.ExternalName)
	case servicePort(svc, u.Port).Protocol != "" && servicePort(svc, u.Port).Protocol != corev1.ProtocolTCP:
		res.reason = v1alpha1.ReasonPortNotTCP
		res.detail = fmt.Sprintf("port %d of Service %q is %s; the gateway speaks HTTP over TCP only: name a TCP port",
			u.Port, service, servicePort(svc, u.Port).Protocol)
	case len(svc.Spec.Selector) == 0:
		res.reason = v1alpha1.ReasonServiceWithoutSelector
		res.detail = fmt.Sprintf("Service %q has no pod selector, so no NetworkPolicy can select its pods; give it spec.selector", service)
	default:
		res.reason = v1alpha1.ReasonReady
		res.detail = fmt.Sprintf("Service %q port %d is reachable from the gateway", service, u.Port)
		res.podSelector = svc.Spec.Selector
		res.ports = []networkingv1.NetworkPolicyPort{targetPort(servicePort(svc, u.Port))}
	}
	return res
}

// judgeUpstreams judges every upstream of the spec against its Service (services, by name;
// absent: not found) and, for a TLS upstream, what its data plane's mode can do with it
// (refuse, nil for the proxy, which does all) and its certificate material, at time now. The
// first upstream naming a Service port keeps it; a later one is refused.
func judgeUpstreams(namespace string, spec []v1alpha1.Upstream, services map[string]*corev1.Service, certs map[string]certMaterial,
	refuse func(v1alpha1.Upstream) (reason, detail string), now time.Time, warnWithin time.Duration) []upstreamResult {
	results := make([]upstreamResult, 0, len(spec))
	first := map[string]string{} // Service port -> the first upstream naming it
	for _, u := range spec {
		target := serviceTarget(u)
		if earlier, dup := first[target]; dup {
			results = append(results, upstreamResult{upstream: u, reason: v1alpha1.ReasonDuplicateServicePort,
				detail: fmt.Sprintf("upstream %q already exposes %s; remove one of the two", earlier, target)})
			continue
		}
		first[target] = u.Name
		svc, _ := splitHost(u.Host)
		res := checkUpstream(namespace, u, services[svc])
		if res.valid() && u.TLS != nil && refuse != nil {
			if reason, detail := refuse(u); reason != "" {
				res = upstreamResult{upstream: u, reason: reason, detail: detail}
			}
		}
		if res.valid() && u.TLS != nil {
			cc := judgeCertificates(namespace, u, certs[u.Name], now, warnWithin)
			if cc.reason != "" {
				res.reason, res.detail = cc.reason, cc.detail
			} else {
				res.detail = "the gateway reaches it through the proxy, which verifies its certificate"
			}
			res.warning, res.notAfter, res.certRefs = cc.expiring, cc.notAfter, cc.refs
		}
		results = append(results, res)
	}
	return results
}

// servicePort returns the port of svc whose port number is port, or nil.
func servicePort(svc *corev1.Service, port int32) *corev1.ServicePort {
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port {
			return &svc.Spec.Ports[i]
		}
	}
	return nil
}

// targetPort is the pod port behind a Service port, as a NetworkPolicy port. A named target
// port stays named: NetworkPolicies resolve container port names per pod, exactly as the
// Service does. An unset target port means the Service port itself.
func targetPort(p *corev1.ServicePort) networkingv1.NetworkPolicyPort {
	tp := p.TargetPort
	if tp.Type == intstr.Int && tp.IntVal == 0 || tp.Type == intstr.String && tp.StrVal == "" {
		tp = intstr.FromInt32(p.Port)
	}
	protocol := p.Protocol
	if protocol == "" {
		protocol = corev1.ProtocolTCP
	}
	return networkingv1.NetworkPolicyPort{Protocol: &protocol, Port: &tp}
}

func describePorts(svc *corev1.Service) string {
	if len(svc.Spec.Ports) == 0 {
		return "none"
	}
	ports := make([]string, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprint(p.Port))
	}
	return "[" + strings.Join(ports, ", ") + "]"
}

// dataPlaneResult is the outcome of resolving a tenant's data plane and environments.
type dataPlaneResult struct {
	plane        *v1alpha1.GatewayDataPlane
	environments []v1alpha1.DataPlaneEnvironment
	// dataClass is the tenant's data class on the plane; nil where the plane has none.
	dataClass *v1alpha1.DataClass
	reason    string
	message   string
}

func (d dataPlaneResult) accepted() bool { return d.reason == v1alpha1.ReasonAccepted }

// resolveDataPlane picks the tenant's data plane out of planes (the one it names, else the
// single default) and the environments that may call in.
func resolveDataPlane(spec *v1alpha1.GatewayTenantSpec, planes []v1alpha1.GatewayDataPlane) dataPlaneResult {
	var res dataPlaneResult
	if spec.DataPlane != "" {
		for i := range planes {
			if planes[i].Name == spec.DataPlane {
				res.plane = &planes[i]
			}
		}
		if res.plane == nil {
			res.reason = v1alpha1.ReasonDataPlaneNotFound
			res.message = fmt.Sprintf("GatewayDataPlane %q not found; known data planes: %s", spec.DataPlane, planeNames(planes, false))
			return res
		}
	} else {
		var defaults []*v1alpha1.GatewayDataPlane
		for i := range planes {
			if planes[i].Spec.Default {
				defaults = append(defaults, &planes[i])
			}
		}
		switch len(defaults) {
		case 0:
			res.reason = v1alpha1.ReasonNoDefaultDataPlane
			res.message = fmt.Sprintf("spec.dataPlane is empty and no GatewayDataPlane is marked default; name one of %s", planeNames(planes, false))
			return res
		case 1:
			res.plane = defaults[0]
		default:
			res.reason = v1alpha1.ReasonAmbiguousDefaultDataPlane
			res.message = fmt.Sprintf("spec.dataPlane is empty and several GatewayDataPlanes are marked default, %s; name one in spec.dataPlane", planeNames(planes, true))
			return res
		}
	}

	plane := res.plane
	if len(spec.Environments) == 0 {
		res.environments = plane.Spec.Environments
	}
	for _, name := range spec.Environments {
		env := plane.Spec.Environment(name)
		if env == nil {
			res.reason = v1alpha1.ReasonEnvironmentNotFound
			res.message = fmt.Sprintf("spec.environments: GatewayDataPlane %q has no environment %q; it has %s", plane.Name, name, environmentNames(plane.Spec.Environments))
			return res
		}
		res.environments = append(res.environments, *env)
	}
	dc := resolveDataClass(spec, plane)
	if dc.reason != "" {
		res.reason, res.message = dc.reason, dc.message
		return res
	}
	res.dataClass = dc.class
	res.reason = v1alpha1.ReasonAccepted
	res.message = fmt.Sprintf("GatewayDataPlane %q environments %s may call in", plane.Name, environmentNames(res.environments))
	if dc.class != nil {
		res.message += fmt.Sprintf(", data class %s", dc.class.Name)
	}
	return res
}

func planeNames(planes []v1alpha1.GatewayDataPlane, defaultsOnly bool) string {
	var names []string
	for _, p := range planes {
		if !defaultsOnly || p.Spec.Default {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return "(none)"
	}
	slices.Sort(names)
	return "[" + strings.Join(names, ", ") + "]"
}

func environmentNames(envs []v1alpha1.DataPlaneEnvironment) string {
	names := make([]string, 0, len(envs))
	for _, e := range envs {
		names = append(names, string(e.Name))
	}
	return "[" + strings.Join(names, ", ") + "]"
}
