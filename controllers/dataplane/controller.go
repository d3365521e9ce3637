package dataplane

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// PresetReconciler keeps the GatewayDataPlane of one preset in place and as the only
// preset-kept default: it creates it, repairs edits of its spec (except the namespace names
// a platform admin set), recreates it when deleted, and takes the default mark off data
// planes kept from other presets.
type PresetReconciler struct {
	Client client.Client
	Preset string
	// Reason says why the manager keeps this preset (named by a flag, or detected and from
	// what); it goes into the PresetApplied condition's message. Empty means the flag.
	Reason string
}

// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaydataplanes,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=gatewaytenant.io,resources=gatewaydataplanes/status,verbs=get;update;patch

// Reconcile ensures the preset's data plane; every request leads to the same work.
func (r *PresetReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	desired, err := Preset(r.Preset)
	if err != nil {
		return ctrl.Result{}, err
	}
	log := ctrl.LoggerFrom(ctx).WithValues("preset", r.Preset, "gatewayDataPlane", desired.Name)

	dp := &v1alpha1.GatewayDataPlane{}
	err = r.Client.Get(ctx, client.ObjectKeyFromObject(desired), dp)
	switch {
	case apierrors.IsNotFound(err):
		dp = desired.DeepCopy()
		if err := r.Client.Create(ctx, dp); err != nil {
			return ctrl.Result{}, fmt.Errorf("creating GatewayDataPlane %s: %w", desired.Name, err)
		}
		log.Info("Created default GatewayDataPlane from preset")
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("getting GatewayDataPlane %s: %w", desired.Name, err)
	case dp.Labels[LabelPreset] != r.Preset:
		log.Info("GatewayDataPlane exists and is not kept from this preset; leaving it alone")
		return ctrl.Result{}, nil
	case !equality.Semantic.DeepEqual(dp.Spec, keepAdminNamespaceNames(desired.Spec, &dp.Spec)):
		dp.Spec = keepAdminNamespaceNames(desired.Spec, &dp.Spec)
		if err := r.Client.Update(ctx, dp); err != nil {
			return ctrl.Result{}, fmt.Errorf("restoring GatewayDataPlane %s: %w", desired.Name, err)
		}
		log.Info("Restored GatewayDataPlane spec from preset")
	}
	if err := r.writeStatus(ctx, dp); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.demoteOtherPresets(ctx)
}

func (r *PresetReconciler) writeStatus(ctx context.Context, dp *v1alpha1.GatewayDataPlane) error {
	st := dp.Status.DeepCopy()
	st.ObservedGeneration = dp.Generation
	st.Source = "preset:" + r.Preset
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionPresetApplied, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonPresetApplied,
		Message:            fmt.Sprintf("kept by the manager from preset %q: %s", r.Preset, r.reason()),
		ObservedGeneration: dp.Generation,
	})
	if equality.Semantic.DeepEqual(*st, dp.Status) {
		return nil
	}
	patch := client.MergeFrom(dp.DeepCopy())
	dp.Status = *st
	if err := r.Client.Status().Patch(ctx, dp, patch); err != nil {
		return fmt.Errorf("writing GatewayDataPlane %s status: %w", dp.Name, err)
	}
	return nil
}

func (r *PresetReconciler) reason() string {
	if r.Reason == "" {
		return "set by --data-plane-preset"
	}
	return r.Reason
}

// demoteOtherPresets takes the default mark off data planes kept from other presets, so that
// switching presets never leaves two defaults.
func (r *PresetReconciler) demoteOtherPresets(ctx context.Context) error {
	planes := &v1alpha1.GatewayDataPlaneList{}
	if err := r.Client.List(ctx, planes, client.HasLabels{LabelPreset}); err != nil {
		return fmt.Errorf("listing GatewayDataPlanes: %w", err)
	}
	for i := range planes.Items {
		dp := &planes.Items[i]
		if dp.Labels[LabelPreset] == r.Preset || !dp.Spec.Default {
			continue
		}
		patch := client.MergeFrom(dp.DeepCopy())
		dp.Spec.Default = false
		if err := r.Client.Patch(ctx, dp, patch); err != nil {
			return fmt.Errorf("unmarking default GatewayDataPlane %s: %w", dp.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("Unmarked default of a data plane kept from another preset", "gatewayDataPlane", dp.Name)
	}
	return nil
}

// SetupWithManager runs the reconciler once at start and again whenever a preset-kept data
// plane changes or goes away.
func (r *PresetReconciler) SetupWithManager(mgr ctrl.Manager) error {
	start, err := Preset(r.Preset)
	if err != nil {
		return err
	}
	kick := make(chan event.TypedGenericEvent[*v1alpha1.GatewayDataPlane], 1)
	kick <- event.TypedGenericEvent[*v1alpha1.GatewayDataPlane]{Object: start}
	return ctrl.NewControllerManagedBy(mgr).
		Named("dataplane-preset").
		For(&v1alpha1.GatewayDataPlane{}, builder.WithPredicates(
			predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetLabels()[LabelPreset] != "" }),
			predicate.GenerationChangedPredicate{})).
		WatchesRawSource(source.Channel(kick, &handler.TypedEnqueueRequestForObject[*v1alpha1.GatewayDataPlane]{})).
		Complete(r)
}
