// Package contract is what the operator and the proxy agree on: the proxy's configuration
// file (Config, with ParseConfig and Validate), its state report and readiness report, the
// reasons it gives, its admin port and paths, the label of its pods, the startup line
// that tells its addresses, the certificate files both read, and the rule by which a
// failure is confirmed. The operator imports this package, never the proxy engine
// (github.com/gatewaytenant/gatewaytenant-operator/proxy).
package contract

// The admin listener: the port the operator configures and reads, and its paths.
const (
	// AdminPort is the admin listener's port in the configurations the operator writes
	// (DefaultAdminAddress when a configuration names none).
	AdminPort = 9090
	// HealthzPath answers "ok" while the process runs.
	HealthzPath = "/healthz"
	// ReadyzPath answers a ReadyStatus: 200 when ready, 503 when not.
	ReadyzPath = "/readyz"
	// MetricsPath serves the Prometheus metrics.
	MetricsPath = "/metrics"
	// StatePath serves the StateReport.
	StatePath = "/state"
)

// The proxy's pods carry LabelComponent: Component, which the operator's selectors,
// NetworkPolicies and PodMonitors match.
const (
	LabelComponent = "app.kubernetes.io/component"
	Component      = "proxy"
)

// ConfirmedFailures is the confirmation rule: an upstream whose report says this many
// consecutive failed verifications (or more) is failing for certain. After a success the
// proxy checks a new failure again within seconds, so a single failed handshake (a blip)
// is never confirmed.
const ConfirmedFailures = 2

// Confirmed says whether the report of an upstream is a confirmed failure.
func (s UpstreamState) Confirmed() bool {
	return s.Result != ResultOK && s.Result != ResultUnknown && s.ConsecutiveFailures >= ConfirmedFailures
}
