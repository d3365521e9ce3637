package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// What the proxy serves on its admin listener and says in its answers: the state report
// (StatePath), the readiness report (ReadyzPath) and the JSON body of its own error answers.

// StateKind is the kind of the StateReport; its apiVersion is APIVersion. A reader refuses
// a report of another apiVersion or kind.
const StateKind = "StateReport"

// Results of an upstream besides the failure reasons.
const (
	// ResultOK: the last verification (active check or traffic) succeeded.
	ResultOK Reason = "ok"
	// ResultUnknown: nothing has been checked yet.
	ResultUnknown Reason = "unknown"
)

// StateReport is the body of GET /state.
type StateReport struct {
	// APIVersion is APIVersion; Kind is StateKind.
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Revision is the configuration's revision field, "" when it has none.
	Revision string `json:"revision,omitempty"`
	// Time is when the report was made.
	Time time.Time `json:"time"`
	// CheckInterval is the period of the active check of an idle, verified upstream.
	CheckInterval Duration `json:"checkInterval"`
	// Upstreams are in the order of the configuration.
	Upstreams []UpstreamState `json:"upstreams"`
}

// UpstreamState is what the proxy knows about one upstream.
type UpstreamState struct {
	// Name, Address and ServerName are the upstream's, from the configuration (ServerName
	// with its default applied).
	Name       string `json:"name"`
	Address    string `json:"address"`
	ServerName string `json:"serverName"`
	// Result is ResultOK, ResultUnknown, or the Reason of the last failure.
	Result Reason `json:"result"`
	// Message is one line a tenant can act on.
	Message string `json:"message"`
	// Error is the failure as the TLS stack reported it, for the curious.
	Error string `json:"error,omitempty"`
	// CheckedAt is the time of the last verification: an active check, or a handshake or
	// request of real traffic.
	CheckedAt time.Time `json:"checkedAt,omitzero"`
	// Since is when Result last changed.
	Since time.Time `json:"since,omitzero"`
	// LastVerifiedAt is the time of the last success.
	LastVerifiedAt time.Time `json:"lastVerifiedAt,omitzero"`
	// ConsecutiveFailures counts failed verifications since the last success;
	// ConfirmedFailures of them make a confirmed failure (see Confirmed).
	ConsecutiveFailures int `json:"consecutiveFailures"`
	// Presented is the certificate the upstream sent in the last handshake that got as far.
	Presented *PresentedCertificate `json:"presented,omitempty"`
	// MaterialErrors are the CA bundle and client certificate files that do not load.
	MaterialErrors []string `json:"materialErrors,omitempty"`
	// Material is each CA bundle (in the order of caFiles) and the client certificate, as
	// the proxy last read them: the problem in stable words, and what it holds.
	Material []MaterialState `json:"material,omitempty"`
}

// PresentedCertificate describes the leaf certificate an upstream sent.
type PresentedCertificate struct {
	Subject     string    `json:"subject"`
	DNSNames    []string  `json:"dnsNames,omitempty"`
	IPAddresses []string  `json:"ipAddresses,omitempty"`
	URIs        []string  `json:"uris,omitempty"`
	Issuer      string    `json:"issuer"`
	NotBefore   time.Time `json:"notBefore"`
	NotAfter    time.Time `json:"notAfter"`
	// IntermediatesSent is how many certificates the upstream sent after its leaf.
	IntermediatesSent int `json:"intermediatesSent"`
	// ObservedAt is when it was sent.
	ObservedAt time.Time `json:"observedAt"`
}

// ReadyStatus is the body of /readyz.
type ReadyStatus struct {
	Ready     bool                      `json:"ready"`
	Draining  bool                      `json:"draining"`
	Upstreams map[string]UpstreamStatus `json:"upstreams"`
}

// UpstreamStatus is the /readyz detail of one upstream. LastResult is "ok", "unknown" (no
// connection attempted yet) or the reason of the last failure; it does not affect readiness.
type UpstreamStatus struct {
	MaterialStatus
	LastResult string `json:"lastResult"`
}

// MaterialStatus is the /readyz detail of one upstream.
type MaterialStatus struct {
	Ready             bool     `json:"ready"`
	CA                string   `json:"ca,omitempty"`
	ClientCertificate string   `json:"clientCertificate,omitempty"`
	Errors            []string `json:"errors,omitempty"`
}

// ErrorBody is the JSON body of the proxy's own answers: 502/504 when the upstream cannot
// be reached, 400/431/501 when the gateway's request is refused (docs/proxy.md).
type ErrorBody struct {
	Message   string `json:"message"`
	Reason    Reason `json:"reason"`
	Upstream  string `json:"upstream"`
	RequestID string `json:"request_id"`
}

// ETag is the state report's entity tag, quoted as the ETag header carries it. It changes
// when anything in the report changes except the times of checks (Time, CheckedAt,
// LastVerifiedAt and a presented certificate's ObservedAt), which change at every check. The
// proxy sends it with the report and answers a GET whose If-None-Match holds it with 304 Not
// Modified and no body, so that a reader polling a settled proxy reads headers only. Fields
// added to the report are covered without change here.
func (r StateReport) ETag() string {
	r.Time = time.Time{}
	ups := make([]UpstreamState, len(r.Upstreams))
	for i, u := range r.Upstreams {
		u.CheckedAt, u.LastVerifiedAt = time.Time{}, time.Time{}
		if u.Presented != nil {
			p := *u.Presented
			p.ObservedAt = time.Time{}
			u.Presented = &p
		}
		ups[i] = u
	}
	r.Upstreams = ups
	data, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("marshalling a state report: %v", err)) // plain data: cannot fail
	}
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// Matches says whether an If-None-Match header value names etag (or is "*").
func Matches(ifNoneMatch, etag string) bool {
	for _, v := range strings.Split(ifNoneMatch, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || strings.TrimPrefix(v, "W/") == etag {
			return true
		}
	}
	return false
}
