package proxy

import (
	"strconv"
	"sync"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const metricPrefix = "gatewaytenant_proxy_"

// Values of the kind and result labels.
const (
	kindCA     = "ca"
	kindClient = "client"

	resultSuccess = "success"
	resultFailure = "failure"
)

// metrics are the proxy's Prometheus collectors, in a registry of their own.
type metrics struct {
	registry          *prometheus.Registry
	requests          *prometheus.CounterVec
	handshakeFailures *prometheus.CounterVec
	clientErrors      *prometheus.CounterVec
	handshakeDuration *prometheus.HistogramVec
	requestDuration   *prometheus.HistogramVec
	notAfter          *prometheus.GaugeVec
	reloads           *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "requests_total",
			Help: "Requests answered, by upstream and HTTP status code.",
		}, []string{"upstream", "code"}),
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "upstream_handshake_failures_total",
			Help: "Failed upstream connection attempts (TCP connect or TLS handshake), by reason.",
		}, []string{"upstream", "reason"}),
		clientErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "client_errors_total",
			Help: "Requests refused for the gateway's fault (malformed or ambiguous framing), by reason; never upstream failures.",
		}, []string{"upstream", "reason"}),
		handshakeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricPrefix + "upstream_handshake_duration_seconds",
			Help:    "Duration of successful upstream TLS handshakes, verification included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"upstream"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricPrefix + "request_duration_seconds",
			Help:    "Time from a request's headers to the end of its answer, by upstream (the proxy's own error answers included).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"upstream"}),
		notAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricPrefix + "certificate_not_after_timestamp_seconds",
			Help: "Earliest notAfter (Unix seconds) of the certificates loaded from a file.",
		}, []string{"upstream", "kind", "file"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "reloads_total",
			Help: "Loads of changed CA bundles and client certificates, by result.",
		}, []string{"upstream", "kind", "result"}),
	}
	m.registry.MustRegister(m.requests, m.handshakeFailures, m.clientErrors, m.handshakeDuration, m.requestDuration, m.notAfter, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// initUpstream creates the series of an upstream at zero, so that dashboards and alerts see
// them before the first event.
func (m *metrics) initUpstream(name string, mtls bool) {
	for _, r := range contract.HandshakeFailureReasons {
		m.handshakeFailures.WithLabelValues(name, string(r))
	}
	for _, r := range contract.ClientErrorReasons {
		m.clientErrors.WithLabelValues(name, string(r))
	}
	kinds := []string{kindCA}
	if mtls {
		kinds = append(kinds, kindClient)
	}
	for _, k := range kinds {
		m.reloads.WithLabelValues(name, k, resultSuccess)
		m.reloads.WithLabelValues(name, k, resultFailure)
	}
}

// codeCounters caches the requests_total child of each status code of one upstream, so
// that the request path does not hash label values.
type codeCounters struct {
	upstream string
	vec      *prometheus.CounterVec
	byCode   sync.Map // int -> prometheus.Counter
}

func (c *codeCounters) inc(code int) {
	if v, ok := c.byCode.Load(code); ok {
		v.(prometheus.Counter).Inc()
		return
	}
	counter := c.vec.WithLabelValues(c.upstream, strconv.Itoa(code))
	c.byCode.Store(code, counter)
	counter.Inc()
}
