package gatewaytenant

// One owner per Service port: of the GatewayTenants of a namespace that name the same Service
// port, the older one (by creation time, then by name: Gateway API's rule) owns it, and
// nothing is written for the others. Two tenants could otherwise open the same pods both
// directly and through a proxy, around its verification. Pure: observe.go reads the tenants.

import (
	"fmt"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// conflict says that an older GatewayTenant owns a Service port this one names.
type conflict struct {
	tenant string // this one
	winner string // the older one
	shared string // the Service port both name, "<host> port <port>"
	// created is the winner's creation time; tie says it is this tenant's too (creation
	// times are kept to the second), and the names decided.
	created time.Time
	tie     bool
}

// conflictOf returns the conflict of tenant with the tenants of its namespace (itself among
// them, or not), or nil when it owns every Service port it names.
func conflictOf(tenant *v1alpha1.GatewayTenant, tenants []v1alpha1.GatewayTenant) *conflict {
	mine := map[string]bool{}
	for _, u := range tenant.Spec.Upstreams {
		mine[serviceTarget(u)] = true
	}
	var winner *v1alpha1.GatewayTenant
	var shared string
	for i := range tenants {
		t := &tenants[i]
		if t.Name == tenant.Name || !t.DeletionTimestamp.IsZero() || !olderThan(t, tenant) || (winner != nil && olderThan(winner, t)) {
			continue
		}
		for _, u := range t.Spec.Upstreams {
			if mine[serviceTarget(u)] {
				winner, shared = t, serviceTarget(u)
				break
			}
		}
	}
	if winner == nil {
		return nil
	}
	return &conflict{tenant: tenant.Name, winner: winner.Name, shared: shared,
		created: winner.CreationTimestamp.UTC(), tie: winner.CreationTimestamp.Equal(&tenant.CreationTimestamp)}
}

// message says who owns the Service port, why, and what to do.
func (c *conflict) message() string {
	why := fmt.Sprintf("it is older (created %s)", c.created.Format(time.RFC3339))
	if c.tie {
		why = fmt.Sprintf("it was created in the same second (%s) and its name sorts first, which decides a tie", c.created.Format(time.RFC3339))
	}
	return fmt.Sprintf("GatewayTenant %q already exposes %s: %s, and one GatewayTenant owns a Service port. "+
		"Nothing is written for %q: move its upstreams into %q, or expose another Service or port",
		c.winner, c.shared, why, c.tenant, c.winner)
}

// serviceTarget is the Service port an upstream names, "<host> port <port>".
func serviceTarget(u v1alpha1.Upstream) string {
	return fmt.Sprintf("%s port %d", u.Host, u.Port)
}

// olderThan orders tenants by creation time, then by name.
func olderThan(a, b *v1alpha1.GatewayTenant) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
