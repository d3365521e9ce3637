package proxy

import (
	"net/http"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// The upstream's health as traffic sees it: every verification outcome of a connection or
// an exchange goes through transition, which feeds the state report (state.go) and logs
// each change once.

const stateUnknown = contract.ResultUnknown

// exchangeError classifies, counts and logs an exchange failure on a verified connection.
func (u *upstream) exchangeError(err error, facts connFacts) *proxyError {
	reason := classifyFailure(err, stageExchange, facts)
	status := http.StatusBadGateway
	switch reason {
	case contract.ReasonTimeout:
		status = http.StatusGatewayTimeout // response headers too late
		u.log.Debug("upstream response timed out", "error", describe(err))
	case contract.ReasonUpstreamError, contract.ReasonClosedUnconfirmed:
		u.log.Debug("upstream exchange failed", "reason", reason, "error", describe(err))
	default:
		u.recordFailure(reason, err) // a TLS alert: a handshake failure after all
	}
	return &proxyError{reason: reason, status: status, err: err}
}

func (u *upstream) recordFailure(reason contract.Reason, err error) {
	if c, ok := u.failures[reason]; ok {
		c.Inc()
	}
	u.transition(reason, err)
}

func (u *upstream) recordSuccess() {
	if !u.healthy.Load() {
		u.transition("", nil)
	}
}

// transition logs a change of the upstream's state: each distinct failure once, not once
// per request, and the recovery.
func (u *upstream) transition(reason contract.Reason, err error) {
	u.stateMu.Lock()
	defer u.stateMu.Unlock()
	u.track.record(reason, err)
	if u.lastState == reason {
		return
	}
	prev := u.lastState
	u.lastState = reason
	u.healthy.Store(reason == "")
	switch {
	case reason != "":
		u.log.Warn("upstream connection failed", "reason", reason, "error", describe(err))
	case prev == stateUnknown:
		u.log.Info("upstream connection verified")
	default:
		u.log.Info("upstream connection recovered", "previousReason", prev)
	}
}

func (u *upstream) state() contract.Reason {
	u.stateMu.Lock()
	defer u.stateMu.Unlock()
	return u.lastState
}
