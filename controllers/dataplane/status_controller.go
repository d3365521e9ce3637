package dataplane

import (
	"context"
	"fmt"
	"slices"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// EnvironmentsReconciler writes the names of every GatewayDataPlane's environments into its
// status, where the Environments column of `kubectl get gatewaydataplanes` reads them all.
type EnvironmentsReconciler struct {
	Client client.Client
}

// Reconcile writes status.environments of one data plane, and nothing when it is current.
func (r *EnvironmentsReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	dp := &v1alpha1.GatewayDataPlane{}
	if err := r.Client.Get(ctx, req.NamespacedName, dp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	names := make([]v1alpha1.EnvironmentName, 0, len(dp.Spec.Environments))
	for _, env := range dp.Spec.Environments {
		names = append(names, env.Name)
	}
	if slices.Equal(names, dp.Status.Environments) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(dp.DeepCopy())
	dp.Status.Environments = names
	if err := r.Client.Status().Patch(ctx, dp, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("writing GatewayDataPlane %s status: %w", dp.Name, err)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager runs the reconciler on every data plane whose spec changes.
func (r *EnvironmentsReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("dataplane-environments").
		For(&v1alpha1.GatewayDataPlane{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
