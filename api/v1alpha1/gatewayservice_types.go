package v1alpha1

// What the gateway expects of the service definition a tenant publishes to it, and of the
// tenant's workloads: the data plane says it (GatewayDataPlane spec.gatewayService), the
// presets fill it for the reference platform, and the operator renders each tenant's document
// into status.gatewayConfig. docs/gateway-config.md has the platform's facts and their sources.

// GatewayServiceFormat is the format of the document the operator renders into a tenant's
// status.gatewayConfig.
//
// +kubebuilder:validation:Enum=GatewayService
type GatewayServiceFormat string

const (
	// GatewayServiceFormatGWA is the resource format of the reference platform's gwa CLI: one
	// YAML document per upstream with `kind: GatewayService`, name, tags, host, port and
	// protocol, documents separated by `---`, as `gwa apply -i <file or ->` reads them.
	GatewayServiceFormatGWA GatewayServiceFormat = "GatewayService"
)

// Placeholders of the tag templates of a GatewayServiceSpec.
const (
	// GatewayIDPlaceholder in namespaceTag stands for the tenant's spec.gatewayID.
	GatewayIDPlaceholder = "{gatewayID}"
	// DataClassPlaceholder in dataClass.tag stands for the tenant's data class.
	DataClassPlaceholder = "{dataClass}"
)

// GatewayServiceSpec says how the gateway of a data plane wants each upstream described:
// the document format, the tags, the protocol, and the data classes it knows.
type GatewayServiceSpec struct {
	// format of the document in each tenant's status.gatewayConfig. GatewayService: the
	// reference platform's `kind: GatewayService` documents, for `gwa apply -i -`.
	//
	// +optional
	// +kubebuilder:default=GatewayService
	Format GatewayServiceFormat `json:"format,omitempty"`

	// namespaceTag is the tag that files a service under the tenant's gateway, with
	// {gatewayID} where the tenant's spec.gatewayID goes: "ns.{gatewayID}" on the reference
	// platform. A tenant without spec.gatewayID gets no such tag.
	//
	// +optional
	// +kubebuilder:default="ns.{gatewayID}"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9._~:-]*[{]gatewayID[}][A-Za-z0-9._~:-]*$')",message="namespaceTag must hold {gatewayID} once, with only letters, digits and . _ ~ : - around it, e.g. ns.{gatewayID}"
	NamespaceTag string `json:"namespaceTag,omitempty"`

	// protocol is what the document says the gateway speaks to the host and port it names:
	// the upstream Service of a plain upstream, or the tenant's TLS proxy, which takes plain
	// HTTP and speaks verified TLS to the upstream itself. "http" on the reference platform.
	// A TLS upstream the gateway verifies itself (spec.upstreamTLS.mode BackendTLSPolicy) is
	// described with "https" instead.
	//
	// +optional
	// +kubebuilder:default=http
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9+.-]*$`
	Protocol string `json:"protocol,omitempty"`

	// dataClass, when set, says that the gateway files each service under a data class, and
	// which classes tenants may name in spec.dataClass. Unset: the gateway knows no data
	// class, and a tenant naming one is refused (Accepted=False, DataClassNotAllowed).
	//
	// +optional
	DataClass *DataClassSpec `json:"dataClass,omitempty"`
}

// DataClassName names a data class, e.g. "medium".
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type DataClassName string

// DataClassSpec is how a data plane's gateway and cluster classify data.
//
// +kubebuilder:validation:XValidation:rule="!has(self.defaultClass) || self.classes.exists(c, c.name == self.defaultClass)",message="defaultClass must be the name of one of classes"
// +kubebuilder:validation:XValidation:rule="!has(self.workloadLabelKey) || self.classes.all(c, has(c.workloadLabelValue))",message="every class needs workloadLabelValue when workloadLabelKey is set"
type DataClassSpec struct {
	// tag is the tag that files a service under the tenant's data class, with {dataClass}
	// where the class's name goes: "aps.route.dataclass.{dataClass}" on the reference
	// platform's Emerald cluster.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9._~:-]*[{]dataClass[}][A-Za-z0-9._~:-]*$')",message="tag must hold {dataClass} once, with only letters, digits and . _ ~ : - around it, e.g. aps.route.dataclass.{dataClass}"
	Tag string `json:"tag"`

	// classes are the data classes a tenant may name in spec.dataClass.
	//
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Classes []DataClass `json:"classes"`

	// defaultClass is the class of tenants that name none. Unset: a tenant must name one, and
	// is refused until it does (Accepted=False, DataClassRequired): the operator does not
	// guess how sensitive a tenant's data is.
	//
	// +optional
	DefaultClass DataClassName `json:"defaultClass,omitempty"`

	// workloadLabelKey, when set, is the label the cluster requires on every pod that makes
	// or takes connections, with the value of the tenant's class (its workloadLabelValue):
	// "DataClass" on the Emerald cluster. The operator sets it on the pods of the tenant's
	// TLS proxy; the tenant's own pods are the tenant's to label.
	//
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	WorkloadLabelKey string `json:"workloadLabelKey,omitempty"`
}

// DataClass is one data class of a data plane.
type DataClass struct {
	// name of the class as tenants write it in spec.dataClass and as it goes into the tag.
	//
	// +required
	Name DataClassName `json:"name"`

	// workloadLabelValue is the value of workloadLabelKey on the pods of a tenant of this
	// class, e.g. "Medium".
	//
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	WorkloadLabelValue string `json:"workloadLabelValue,omitempty"`
}

// Class returns the class called name, or nil.
func (d *DataClassSpec) Class(name DataClassName) *DataClass {
	for i := range d.Classes {
		if d.Classes[i].Name == name {
			return &d.Classes[i]
		}
	}
	return nil
}

// Reasons of the tenant's Accepted condition about spec.dataClass.
const (
	// ReasonDataClassRequired: the data plane files every service under a data class
	// (spec.gatewayService.dataClass) and has no default, and the tenant names none. Set
	// spec.dataClass to one of the classes the message lists.
	ReasonDataClassRequired = "DataClassRequired"

	// ReasonDataClassNotAllowed: spec.dataClass names a class the data plane does not have,
	// or the data plane has no data classes at all. Use one of the classes the message
	// lists, or remove spec.dataClass.
	ReasonDataClassNotAllowed = "DataClassNotAllowed"
)
