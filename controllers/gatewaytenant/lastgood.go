package gatewaytenant

import (
	"encoding/json"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// annotationLastGood on the proxy ConfigMap records the TLS upstreams the proxy serves, as
// they were when they were last valid. An upstream whose new spec is invalid (a typo in a CA
// reference, a Service that went away) keeps being served from this record, with its last
// good certificates, Service port and NetworkPolicies, until it is fixed or leaves the spec:
// a mistake never cuts off traffic that worked.
const annotationLastGood = "gatewaytenant.io/last-good-upstreams"

// lastGood is the record of one upstream.
type lastGood struct {
	Upstream    v1alpha1.Upstream                `json:"upstream"`
	PodSelector map[string]string                `json:"podSelector"`
	Ports       []networkingv1.NetworkPolicyPort `json:"ports"`
}

// encodeLastGood records the upstreams the proxy serves.
func encodeLastGood(ups []proxyUpstream) string {
	records := make([]lastGood, 0, len(ups))
	for _, u := range ups {
		records = append(records, lastGood{Upstream: u.upstream, PodSelector: u.podSelector, Ports: u.ports})
	}
	data, err := json.Marshal(records)
	if err != nil {
		panic("gatewaytenant: encoding last good upstreams: " + err.Error()) // plain data always encodes
	}
	return string(data)
}

// decodeLastGood reads a record written by encodeLastGood. A record that does not parse (edited
// by hand) holds nothing: the upstreams are then served only while valid.
func decodeLastGood(s string) map[string]upstreamResult {
	var records []lastGood
	if s == "" || json.Unmarshal([]byte(s), &records) != nil {
		return nil
	}
	out := make(map[string]upstreamResult, len(records))
	for _, r := range records {
		if r.Upstream.TLS == nil || len(r.PodSelector) == 0 || len(r.Ports) == 0 {
			continue
		}
		out[r.Upstream.Name] = upstreamResult{upstream: r.Upstream, podSelector: r.PodSelector, ports: r.Ports, reason: v1alpha1.ReasonReady}
	}
	return out
}

// withLastGood returns the results as the proxy should serve them: an invalid upstream that
// has a last good record is served from that record; every other result is as observed. The
// results' own reasons stay what they are for the status.
func withLastGood(results []upstreamResult, last map[string]upstreamResult) []upstreamResult {
	out := make([]upstreamResult, 0, len(results))
	for _, r := range results {
		if good, ok := last[r.upstream.Name]; ok && !r.valid() {
			r = good
		}
		out = append(out, r)
	}
	return out
}
