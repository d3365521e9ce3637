package proxy

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// What the state report says of an upstream's TLS material: per CA file and for the client
// certificate, the problem in the contract's stable words (missing, not_pem, key_mismatch,
// not_ca, expired, expiring_soon, ...) and what the proxy holds. The operator reads no Secret:
// this is how a tenant learns what is wrong with a Secret it references.

// report describes every piece of material at now; warn is the expiry warning window.
func (m *material) report(now time.Time, warn time.Duration) []contract.MaterialState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]contract.MaterialState, 0, len(m.caFiles)+1)
	for i, file := range m.caFiles {
		out = append(out, materialState(fmt.Sprintf("caFiles[%d]", i), contract.MaterialCA, []string{file}, m.caRead[i], now, warn))
	}
	if cc := m.clientFiles; cc != nil {
		if cc.Bundle() {
			warn = podCertificateWindow(m.clientRead.held, warn)
		}
		out = append(out, materialState(clientField(cc, -1), contract.MaterialClient, cc.Files(), m.clientRead, now, warn))
	}
	return out
}

// materialState is the report of one piece of material: a failed read first (with what is
// kept), then the validity of what loaded.
func materialState(field string, kind contract.MaterialKind, files []string, r fileRead, now time.Time, warn time.Duration) contract.MaterialState {
	st := contract.MaterialState{Field: field, Kind: kind, Files: files}
	if len(r.held) > 0 {
		described := r.held[0] // the leaf of a client certificate
		if kind == contract.MaterialCA {
			described = contract.FirstToExpire(r.held)
		}
		st.Loaded = contract.Describe(described, r.held, r.heldAt)
	}
	if r.err != nil {
		st.Problem, st.Missing = contract.ProblemOf(r.err), r.missing
		st.Message = oneLine(problemDetail(r.err))
		if st.Loaded != nil {
			st.Message += " (keeping the previously loaded material)"
		}
		return st
	}
	problem, c := contract.Validity(r.held, now, warn)
	st.Problem = problem
	switch problem {
	case contract.MaterialExpired:
		st.Message = fmt.Sprintf("certificate %q expired at %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	case contract.MaterialNotYetValid:
		st.Message = fmt.Sprintf("certificate %q is not valid before %s", c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))
	case contract.MaterialExpiringSoon:
		st.Message = fmt.Sprintf("certificate %q expires at %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return st
}

// podCertificateWindow is the expiry warning window of a pod certificate: warn, or a quarter
// of its lifetime when that is shorter. The kubelet rotates pod certificates well before they
// expire (from the signer's beginRefreshAt); one with less than a quarter of its lifetime
// left was not rotated when it should have been. Without it, a 24-hour certificate would
// always be "expiring" within the usual 30 days.
func podCertificateWindow(chain []*x509.Certificate, warn time.Duration) time.Duration {
	if len(chain) == 0 {
		return warn
	}
	return min(warn, chain[0].NotAfter.Sub(chain[0].NotBefore)/4)
}

// problemDetail is what is wrong, without the field and file the report names already.
func problemDetail(err error) string {
	if fe, ok := errors.AsType[*fileError](err); ok {
		err = fe.err
	}
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		err = pe.Err
	}
	return err.Error()
}
