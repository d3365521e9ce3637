package proxystate

import (
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// Verdict is what a tenant's proxy replicas say of one upstream.
type Verdict struct {
	// Verified are the replicas whose last verification of the upstream succeeded.
	Verified []string
	// Failing are the replicas whose last verification failed.
	Failing []Failure
	// Unreachable are the replicas that could not be read, as "pod: why".
	Unreachable []string
	// Pending counts the replicas that have not checked the upstream yet, or run another
	// revision of the configuration (during a rollout).
	Pending int
	// Presented is the certificate a verifying replica saw, the one that expires first.
	Presented *contract.PresentedCertificate
	// Replicas are the reports of the replicas that run revision and reported the upstream,
	// checked yet or not, by pod: what they say of its TLS material (State.Material).
	Replicas []Replica
}

// Replica is one replica's report on an upstream.
type Replica struct {
	Pod   string
	State contract.UpstreamState
}

// Failure is one replica's failed verification.
type Failure struct {
	Pod     string
	Result  contract.Reason
	Message string
	// Confirmed: the replica failed at least twice in a row.
	Confirmed bool
}

// Reported says whether any replica has a result for the upstream.
func (v Verdict) Reported() bool { return len(v.Verified)+len(v.Failing) > 0 }

// Verdict gathers the replicas' results for one upstream. Reports of another configuration
// revision than revision ("" accepts any) are pending: those replicas are being replaced.
func (r Reading) Verdict(upstream, revision string) Verdict {
	var v Verdict
	for _, p := range r.Pods {
		if p.Report == nil && p.NotReady {
			v.Pending++ // starting: not listening yet
			continue
		}
		if p.Report == nil {
			v.Unreachable = append(v.Unreachable, p.Pod+": "+p.Err)
			continue
		}
		st, ok := find(p.Report, upstream)
		if ok && (revision == "" || p.Report.Revision == revision) {
			v.Replicas = append(v.Replicas, Replica{Pod: p.Pod, State: st})
		}
		if !ok || (revision != "" && p.Report.Revision != revision) || st.Result == contract.ResultUnknown {
			v.Pending++
			continue
		}
		if st.Result == contract.ResultOK {
			v.Verified = append(v.Verified, p.Pod)
			if pc := st.Presented; pc != nil && (v.Presented == nil || pc.NotAfter.Before(v.Presented.NotAfter)) {
				v.Presented = pc
			}
			continue
		}
		v.Failing = append(v.Failing, Failure{Pod: p.Pod, Result: st.Result, Message: st.Message,
			Confirmed: st.ConsecutiveFailures >= contract.ConfirmedFailures})
	}
	return v
}

func find(r *contract.StateReport, upstream string) (contract.UpstreamState, bool) {
	for _, u := range r.Upstreams {
		if u.Name == upstream {
			return u, true
		}
	}
	return contract.UpstreamState{}, false
}
