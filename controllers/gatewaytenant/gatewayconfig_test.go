package gatewaytenant

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/jsonpath"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
)

// gwaApply reads a configuration the way the gwa CLI's `gwa apply -i` does (bcgov/gwa-cli,
// cmd/apply.go): it splits the input into YAML documents, requires a kind in each, drops the
// kind of those of kind GatewayService and publishes them together as one Kong `services`
// list. It then checks the tags as the platform's API does before it syncs (bcgov/gwa-api,
// v2/routes/gateway.py, validate_tags): with a gateway id, every service carries its tag
// ns.<gateway id>, and no other ns. tag. It is written on maps, apart from ReadGatewayConfig,
// so that the two disagree when the rendering drifts from the format.
func gwaApply(t *testing.T, config, gatewayID string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(config))
	var services []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("gwa apply: %v\n%s", err, config)
		}
		kind, ok := doc["kind"].(string)
		if !ok {
			t.Fatalf("gwa apply: a document without kind: %v", doc)
		}
		if kind != "GatewayService" {
			t.Fatalf("gwa apply would skip a document of kind %q", kind)
		}
		delete(doc, "kind")
		services = append(services, doc)
	}
	for _, s := range services {
		if gatewayID == "" {
			continue
		}
		tags, _ := s["tags"].([]any)
		required, found := "ns."+gatewayID, false
		for _, tag := range tags {
			tag := tag.(string)
			found = found || tag == required
			if strings.HasPrefix(tag, "ns.") && tag != required && !strings.HasPrefix(tag, required+".") {
				t.Errorf("service %v: invalid ns tag %s", s["name"], tag)
			}
		}
		if !found {
			t.Errorf("service %v: missing required tag %s", s["name"], required)
		}
	}
	return services
}

// presetPlane is the resolved data plane of a built-in preset, with class (empty: none).
func presetPlane(t *testing.T, preset string, class v1alpha1.DataClassName) dataPlaneResult {
	t.Helper()
	dp, err := dataplane.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	res := resolveDataPlane(&v1alpha1.GatewayTenantSpec{DataClass: class}, []v1alpha1.GatewayDataPlane{*dp})
	if !res.accepted() {
		t.Fatalf("preset %s, class %q: %s", preset, class, res.message)
	}
	return res
}

func readTestdata(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestGatewayConfigIsThePlatformsDocument renders, with each preset, the upstream of the
// platform guide's examples, and finds exactly the guide's document.
func TestGatewayConfigIsThePlatformsDocument(t *testing.T) {
	status := []v1alpha1.UpstreamStatus{{Name: "my-upstream-api", GatewayHost: "my-upstream-api.abc123-prod.svc", GatewayPort: 8443}}
	for _, c := range []struct {
		preset string
		class  v1alpha1.DataClassName
		file   string
	}{
		{"silver", "", "gwa-gatewayservice-silver.yaml"},
		{"gold", "", "gwa-gatewayservice-silver.yaml"}, // the guide's Gold section shows the same document
		{"golddr", "", "gwa-gatewayservice-silver.yaml"},
		{"emerald", "medium", "gwa-gatewayservice-emerald.yaml"},
	} {
		t.Run(c.preset, func(t *testing.T) {
			spec := &v1alpha1.GatewayTenantSpec{GatewayID: "gw-1a2b3", DataClass: c.class}
			config := gatewayConfig(spec.GatewayID, presetPlane(t, c.preset, c.class), status)
			got := gwaApply(t, config, spec.GatewayID)
			want := readTestdata(t, c.file)
			delete(want, "kind")
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Errorf("rendered\n%s\nwant the guide's document %v", config, want)
			}
			if !strings.HasPrefix(config, "kind: GatewayService\nname: my-upstream-api\ntags: [") {
				t.Errorf("want kind, name, then tags in flow style as the guide writes them; got\n%s", config)
			}
		})
	}
}

func TestGatewayConfig(t *testing.T) {
	plain := v1alpha1.UpstreamStatus{Name: "plain", GatewayHost: "plain.ns.svc", GatewayPort: 8080}
	secure := v1alpha1.UpstreamStatus{Name: "secure", GatewayHost: "my-api-proxy.ns.svc", GatewayPort: 8443}
	invalid := v1alpha1.UpstreamStatus{Name: "broken"}
	custom := v1alpha1.GatewayDataPlane{Spec: v1alpha1.GatewayDataPlaneSpec{GatewayService: &v1alpha1.GatewayServiceSpec{
		Format: v1alpha1.GatewayServiceFormatGWA, NamespaceTag: "team:{gatewayID}:svc", Protocol: "h2c",
		DataClass: &v1alpha1.DataClassSpec{Tag: "class:{dataClass}", Classes: []v1alpha1.DataClass{{Name: "internal"}}, DefaultClass: "internal"},
	}}}
	custom.Name = "custom"
	bare := custom.DeepCopy()
	bare.Name, bare.Spec.GatewayService = "bare", nil

	resolve := func(plane v1alpha1.GatewayDataPlane, spec v1alpha1.GatewayTenantSpec) dataPlaneResult {
		plane.Spec.Default, plane.Spec.Environments = true, []v1alpha1.DataPlaneEnvironment{{Name: "test"}}
		return resolveDataPlane(&spec, []v1alpha1.GatewayDataPlane{plane})
	}
	cases := []struct {
		desc      string
		spec      v1alpha1.GatewayTenantSpec
		dp        func(t *testing.T, spec v1alpha1.GatewayTenantSpec) dataPlaneResult
		upstreams []v1alpha1.UpstreamStatus
		want      []GatewayService
		// otherTags: the reference platform's tag rules do not apply
		otherTags bool
	}{
		{desc: "plain and TLS upstream: each at the address status gives it, over HTTP",
			spec:      v1alpha1.GatewayTenantSpec{GatewayID: "gw-1"},
			dp:        func(t *testing.T, s v1alpha1.GatewayTenantSpec) dataPlaneResult { return presetPlane(t, "silver", "") },
			upstreams: []v1alpha1.UpstreamStatus{plain, secure},
			want: []GatewayService{
				{Kind: "GatewayService", Name: "plain", Tags: []string{"ns.gw-1"}, Host: "plain.ns.svc", Port: 8080, Protocol: "http"},
				{Kind: "GatewayService", Name: "secure", Tags: []string{"ns.gw-1"}, Host: "my-api-proxy.ns.svc", Port: 8443, Protocol: "http"},
			}},
		{desc: "an upstream without a gateway address is left out",
			spec: v1alpha1.GatewayTenantSpec{GatewayID: "gw-1", DataClass: "high"},
			dp: func(t *testing.T, s v1alpha1.GatewayTenantSpec) dataPlaneResult {
				return presetPlane(t, "emerald", s.DataClass)
			},
			upstreams: []v1alpha1.UpstreamStatus{invalid, secure},
			want: []GatewayService{{Kind: "GatewayService", Name: "secure", Tags: []string{"ns.gw-1", "aps.route.dataclass.high"},
				Host: "my-api-proxy.ns.svc", Port: 8443, Protocol: "http"}}},
		{desc: "no gateway id: no namespace tag, the data class tag still",
			spec: v1alpha1.GatewayTenantSpec{DataClass: "public"},
			dp: func(t *testing.T, s v1alpha1.GatewayTenantSpec) dataPlaneResult {
				return presetPlane(t, "emerald", s.DataClass)
			},
			upstreams: []v1alpha1.UpstreamStatus{plain},
			want: []GatewayService{{Kind: "GatewayService", Name: "plain", Tags: []string{"aps.route.dataclass.public"},
				Host: "plain.ns.svc", Port: 8080, Protocol: "http"}}},
		{desc: "another platform's tags, protocol and default class, without code",
			spec:      v1alpha1.GatewayTenantSpec{GatewayID: "payments"},
			dp:        func(t *testing.T, s v1alpha1.GatewayTenantSpec) dataPlaneResult { return resolve(custom, s) },
			upstreams: []v1alpha1.UpstreamStatus{plain},
			want: []GatewayService{{Kind: "GatewayService", Name: "plain", Tags: []string{"team:payments:svc", "class:internal"},
				Host: "plain.ns.svc", Port: 8080, Protocol: "h2c"}}, otherTags: true},
		{desc: "a data plane without gatewayService: no document",
			spec:      v1alpha1.GatewayTenantSpec{GatewayID: "gw-1"},
			dp:        func(t *testing.T, s v1alpha1.GatewayTenantSpec) dataPlaneResult { return resolve(*bare, s) },
			upstreams: []v1alpha1.UpstreamStatus{plain}},
		{desc: "a data plane that does not resolve: no document",
			spec: v1alpha1.GatewayTenantSpec{GatewayID: "gw-1"},
			dp: func(t *testing.T, s v1alpha1.GatewayTenantSpec) dataPlaneResult {
				return resolveDataPlane(&v1alpha1.GatewayTenantSpec{DataPlane: "missing"}, nil)
			},
			upstreams: []v1alpha1.UpstreamStatus{plain}},
		{desc: "no upstream with an address: no document",
			dp:        func(t *testing.T, s v1alpha1.GatewayTenantSpec) dataPlaneResult { return presetPlane(t, "silver", "") },
			upstreams: []v1alpha1.UpstreamStatus{invalid}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			config := gatewayConfig(c.spec.GatewayID, c.dp(t, c.spec), c.upstreams)
			got, err := ReadGatewayConfig(config)
			if err != nil {
				t.Fatalf("ReadGatewayConfig: %v\n%s", err, config)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v\n%s", got, c.want, config)
			}
			if len(c.want) == 0 && config != "" {
				t.Errorf("want no document, got %q", config)
			}
			id := c.spec.GatewayID
			if c.otherTags {
				id = ""
			}
			if services := gwaApply(t, config, id); len(services) != len(c.want) {
				t.Errorf("gwa apply reads %d services, want %d", len(services), len(c.want))
			}
		})
	}
}

func TestReadGatewayConfigRefusesWhatIsNotWritten(t *testing.T) {
	for _, c := range []struct{ desc, config, want string }{
		{"another kind", "kind: Product\nname: p\n", `kind "Product"`},
		{"an unknown field", "kind: GatewayService\nname: a\nroutes: []\n", "routes"},
		{"not YAML", "kind: [\n", "document 0"},
	} {
		t.Run(c.desc, func(t *testing.T) {
			if _, err := ReadGatewayConfig(c.config); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want one containing %q", err, c.want)
			}
		})
	}
	got, err := ReadGatewayConfig("")
	if err != nil || len(got) != 0 {
		t.Errorf("empty config: %v, %v", got, err)
	}
}

// TestGatewayConfigSizeFits: the largest document a tenant can have fits
// status.gatewayConfig's bound.
func TestGatewayConfigSizeFits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	gs := &v1alpha1.GatewayServiceSpec{
		NamespaceTag: long(128-len(v1alpha1.GatewayIDPlaceholder)) + v1alpha1.GatewayIDPlaceholder, Protocol: long(16),
		DataClass: &v1alpha1.DataClassSpec{Tag: long(128-len(v1alpha1.DataClassPlaceholder)) + v1alpha1.DataClassPlaceholder},
	}
	var ups []v1alpha1.UpstreamStatus
	for range 32 {
		ups = append(ups, v1alpha1.UpstreamStatus{Name: long(63), GatewayHost: long(253), GatewayPort: 65535})
	}
	config := renderGatewayServices(gatewayServices(gs, long(63), &v1alpha1.DataClass{Name: v1alpha1.DataClassName(long(63))}, ups))
	if n := len(config); n > 65536 {
		t.Errorf("the largest document is %d bytes, more than status.gatewayConfig's 65536", n)
	}
	if !bytes.Contains([]byte(config), []byte("\n---\n")) {
		t.Errorf("documents are not separated by ---:\n%.300s", config)
	}
}

// The commands docs/gateway-config.md gives, run with kubectl's JSONPath (client-go's, with
// missing keys allowed, as `kubectl get -o jsonpath` runs it) over tenants as the API server
// returns them, pipe what `gwa apply -i -` reads: one tenant's documents, and every tenant's
// of a namespace, skipping those without a document.
const (
	oneTenantJSONPath   = `{.status.gatewayConfig}`
	allTenantsJSONPath  = `{range .items[?(@.status.gatewayConfig)]}---{"\n"}{.status.gatewayConfig}{end}`
	documentedGuidePath = "../../docs/gateway-config.md"
)

func TestDocumentedCommandsPipeTheDocuments(t *testing.T) {
	guide, err := os.ReadFile(documentedGuidePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{oneTenantJSONPath, allTenantsJSONPath} {
		if !bytes.Contains(guide, []byte("-o jsonpath='"+path+"' | gwa apply -i -")) {
			t.Errorf("%s does not give the command with -o jsonpath='%s'", documentedGuidePath, path)
		}
	}

	silver := presetPlane(t, "silver", "")
	tenant := func(name string, ups ...v1alpha1.UpstreamStatus) v1alpha1.GatewayTenant {
		spec := v1alpha1.GatewayTenantSpec{GatewayID: "gw-1"}
		return v1alpha1.GatewayTenant{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "GatewayTenant"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec:       spec,
			Status:     v1alpha1.GatewayTenantStatus{Upstreams: ups, GatewayConfig: gatewayConfig(spec.GatewayID, silver, ups)},
		}
	}
	a := tenant("a", v1alpha1.UpstreamStatus{Name: "a-api", GatewayHost: "a-api.ns.svc", GatewayPort: 8080},
		v1alpha1.UpstreamStatus{Name: "a-secure", GatewayHost: "a-proxy.ns.svc", GatewayPort: 8443})
	broken := tenant("broken", v1alpha1.UpstreamStatus{Name: "broken-api"})
	b := tenant("b", v1alpha1.UpstreamStatus{Name: "b-api", GatewayHost: "b-api.ns.svc", GatewayPort: 80})
	list := &v1alpha1.GatewayTenantList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"},
		Items: []v1alpha1.GatewayTenant{a, broken, b}}

	run := func(path string, obj any) string {
		t.Helper()
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		jp := jsonpath.New("out").AllowMissingKeys(true)
		if err := jp.Parse(path); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := jp.Execute(&out, u); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	names := func(config string) []string {
		var out []string
		for _, s := range gwaApply(t, config, "gw-1") {
			out = append(out, s["name"].(string))
		}
		return out
	}
	if got := names(run(oneTenantJSONPath, &a)); !reflect.DeepEqual(got, []string{"a-api", "a-secure"}) {
		t.Errorf("one tenant's command pipes %v", got)
	}
	if got := names(run(allTenantsJSONPath, list)); !reflect.DeepEqual(got, []string{"a-api", "a-secure", "b-api"}) {
		t.Errorf("every tenant's command pipes %v", got)
	}
}
