package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// The state report: what the proxy knows about the data path of each upstream, from its
// active checks (check.go) and from real traffic, served as JSON on the admin listener.
// The operator reads it and writes it into the tenant's status; anything else may too.

// tracker keeps the state of one upstream. Every verification outcome reaches it through
// upstream.transition (failures each time, successes when they change something) and every
// handshake through handshake, so that traffic and active checks write one state.
type tracker struct {
	cfg      *contract.Upstream
	now      func() time.Time
	checkNow chan struct{} // a check is wanted at once (material reloaded)

	mu          sync.Mutex
	result      contract.Reason
	err         error
	message     string
	since       time.Time
	checkedAt   time.Time
	verifiedAt  time.Time
	failures    int
	leaf        *x509.Certificate // last presented leaf
	sent        int               // certificates sent after it
	leafAt      time.Time
	lastTraffic time.Time // last handshake of real traffic, real clock
}

func newTracker(u *contract.Upstream, now func() time.Time) *tracker {
	return &tracker{cfg: u, now: now, checkNow: make(chan struct{}, 1), result: contract.ResultUnknown,
		message: "not checked yet"}
}

// requestCheck asks for an active check as soon as possible.
func (t *tracker) requestCheck() {
	select {
	case t.checkNow <- struct{}{}:
	default: // one is pending
	}
}

// handshake records what the upstream presented in a handshake that is over (failed or
// not). traffic tells real traffic from the active check.
func (t *tracker) handshake(conn *tls.Conn, traffic bool) {
	cs := conn.ConnectionState()
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checkedAt = now
	if traffic && !cs.DidResume {
		// A resumed session verifies the chain it cached, not what the upstream would send
		// now: it does not stand in for an active check. Scheduling runs on the real clock.
		t.lastTraffic = time.Now()
	}
	if len(cs.PeerCertificates) > 0 {
		t.leaf, t.sent, t.leafAt = cs.PeerCertificates[0], len(cs.PeerCertificates)-1, now
	}
}

// record records a verification outcome; reason "" is a success.
func (t *tracker) record(reason contract.Reason, err error) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if reason == "" {
		reason = contract.ResultOK
		t.failures = 0
		t.verifiedAt = now
	} else {
		t.failures++
	}
	if reason != t.result {
		t.since = now
	}
	t.result, t.err, t.checkedAt = reason, err, now
	t.message = t.describe(reason, err)
}

// trafficSince says whether real traffic did a handshake after when.
func (t *tracker) trafficSince(when time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastTraffic.After(when)
}

func (t *tracker) failing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failures > 0
}

func (t *tracker) state(ms contract.MaterialStatus) contract.UpstreamState {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := contract.UpstreamState{
		Name:                t.cfg.Name,
		Address:             t.cfg.Address,
		ServerName:          t.cfg.TLS.ServerName,
		Result:              t.result,
		Message:             t.message,
		CheckedAt:           utc(t.checkedAt),
		Since:               utc(t.since),
		LastVerifiedAt:      utc(t.verifiedAt),
		ConsecutiveFailures: t.failures,
		MaterialErrors:      ms.Errors,
	}
	if t.err != nil {
		st.Error = oneLine(t.err.Error())
	}
	if t.leaf != nil {
		st.Presented = presented(t.leaf, t.sent, t.leafAt)
	}
	if !ms.Ready && t.result != contract.ResultOK {
		st.Message = "the proxy cannot load its TLS files: " + oneLine(strings.Join(ms.Errors, "; "))
		if len(ms.Errors) == 0 {
			st.Message = "the proxy has not loaded its TLS files yet"
		}
	}
	return st
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

func presented(leaf *x509.Certificate, sent int, at time.Time) *contract.PresentedCertificate {
	p := &contract.PresentedCertificate{
		Subject:           leaf.Subject.String(),
		DNSNames:          leaf.DNSNames,
		Issuer:            leaf.Issuer.String(),
		NotBefore:         leaf.NotBefore.UTC(),
		NotAfter:          leaf.NotAfter.UTC(),
		IntermediatesSent: sent,
		ObservedAt:        at.UTC(),
	}
	for _, ip := range leaf.IPAddresses {
		p.IPAddresses = append(p.IPAddresses, ip.String())
	}
	for _, u := range leaf.URIs {
		p.URIs = append(p.URIs, u.String())
	}
	return p
}

// describe is the one-line message of an outcome: what is wrong, with what the upstream
// presented, and what to change.
func (t *tracker) describe(reason contract.Reason, err error) string {
	leaf, addr := t.leaf, t.cfg.Address
	switch reason {
	case contract.ResultOK:
		if leaf == nil {
			return "verified"
		}
		return fmt.Sprintf("verified: the upstream presents %s issued by %s, valid until %s",
			leaf.Subject, leaf.Issuer, leaf.NotAfter.UTC().Format(time.RFC3339))
	case contract.ReasonHostnameMismatch:
		return t.describeName(err)
	case contract.ReasonUnknownAuthority:
		if leaf == nil {
			return "the upstream certificate does not chain to a trusted CA"
		}
		msg := fmt.Sprintf("the upstream certificate %s is issued by %s, which is not a trusted CA and does not chain to one",
			leaf.Subject, leaf.Issuer)
		if t.sent == 0 && leaf.Issuer.String() != leaf.Subject.String() {
			return msg + "; the upstream sent no intermediate: add the issuing root to the CA bundle, or make the upstream send its chain"
		}
		return msg + "; add the issuing root to the CA bundle"
	case contract.ReasonExpired, contract.ReasonNotYetValid:
		if ve, ok := errors.AsType[*ValidityError](err); ok {
			if ve.NotYetValid {
				return fmt.Sprintf("the upstream certificate %s is not valid before %s; check the clocks or reissue it",
					ve.Subject, ve.NotBefore.UTC().Format(time.RFC3339))
			}
			return fmt.Sprintf("the upstream certificate %s expired at %s; renew it", ve.Subject, ve.NotAfter.UTC().Format(time.RFC3339))
		}
		return reason.Message() + " (an intermediate of the chain): " + oneLine(errText(err)) + "; renew it"
	case contract.ReasonChainTooDeep:
		if e, ok := errors.AsType[*ChainTooDeepError](err); ok {
			return fmt.Sprintf("the upstream chain has %d intermediate(s) below a trusted CA, verifyDepth allows %d; raise verifyDepth or trust the intermediate",
				e.Intermediates, e.Max)
		}
	case contract.ReasonClientCertificateRejected:
		if t.cfg.TLS.ClientCertificate == nil {
			return "the upstream requires a client certificate and none is configured"
		}
		return "the upstream rejected the client certificate (" + oneLine(errText(err)) +
			"); have it signed by a CA the upstream trusts, with clientAuth usage, and not expired"
	case contract.ReasonProtocolVersion:
		return fmt.Sprintf("the upstream %s and the proxy (minimum TLS %s) have no TLS version in common", addr, t.cfg.TLS.MinVersion)
	case contract.ReasonUpstreamNotTLS:
		return fmt.Sprintf("the upstream %s answers in plain text, not TLS; point the upstream at its TLS port, or enable TLS on it", addr)
	case contract.ReasonConnectFailed:
		return fmt.Sprintf("cannot connect to %s: %s", addr, oneLine(errText(err)))
	case contract.ReasonTimeout:
		return fmt.Sprintf("the upstream %s did not complete the connection and TLS handshake in time", addr)
	}
	return reason.Message() + ": " + oneLine(errText(err))
}

// describeName explains a hostname mismatch; a certificate with a common name and no
// subject alternative name (how many guides make them) gets a message of its own, since
// the common name is not used.
func (t *tracker) describeName(err error) string {
	leaf := t.leaf
	want := "the name " + t.cfg.TLS.ServerName
	if len(t.cfg.TLS.SubjectAltNames) > 0 {
		var names []string
		for _, san := range t.cfg.TLS.SubjectAltNames {
			if san.Type == contract.SubjectAltNameURI {
				names = append(names, "URI:"+san.URI)
			} else {
				names = append(names, "DNS:"+san.Hostname)
			}
		}
		want = "any of " + strings.Join(names, ", ")
	}
	if leaf == nil {
		return "the upstream certificate does not match " + want + ": " + oneLine(errText(err))
	}
	if cnOnly(leaf) {
		return fmt.Sprintf("the upstream presents CN=%s and no subjectAltName; certificates must carry the name as a DNS SAN (expected %s)",
			leaf.Subject.CommonName, want)
	}
	return fmt.Sprintf("the upstream certificate names %s, none of which matches %s; reissue it with that name as a SAN, or expect one of its names",
		strings.Join(certNames(leaf), ", "), want)
}

func cnOnly(c *x509.Certificate) bool {
	return c.Subject.CommonName != "" && len(c.DNSNames) == 0 && len(c.IPAddresses) == 0 &&
		len(c.URIs) == 0 && len(c.EmailAddresses) == 0
}

func certNames(c *x509.Certificate) []string {
	var out []string
	for _, d := range c.DNSNames {
		out = append(out, "DNS:"+d)
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "IP:"+ip.String())
	}
	for _, u := range c.URIs {
		out = append(out, "URI:"+u.String())
	}
	if len(out) == 0 {
		out = append(out, "(no subjectAltName)")
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return "no detail"
	}
	return err.Error()
}

// oneLine keeps a message on one line and bounded.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 512 {
		s = s[:509] + "..."
	}
	return s
}

// State is the report served on StatePath.
func (p *Proxy) State() contract.StateReport {
	r := contract.StateReport{
		APIVersion:    contract.APIVersion,
		Kind:          contract.StateKind,
		Revision:      p.cfg.Revision,
		Time:          p.opts.clock().UTC(),
		CheckInterval: contract.Duration{Duration: p.cfg.Verification.IntervalOrDefault()},
		Upstreams:     make([]contract.UpstreamState, 0, len(p.upstreams)),
	}
	warn := p.cfg.Verification.ExpiryWarningOrDefault()
	for _, u := range p.upstreams {
		st := u.track.state(u.material.status())
		st.Material = u.material.report(r.Time, warn)
		r.Upstreams = append(r.Upstreams, st)
	}
	return r
}

// serveState serves the report with its ETag; a request whose If-None-Match names the
// current ETag gets 304 and no body (contract.StateReport.ETag).
func (p *Proxy) serveState(w http.ResponseWriter, r *http.Request) {
	st := p.State()
	etag := st.ETag()
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	if inm := r.Header.Get("If-None-Match"); inm != "" && contract.Matches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(st)
}
