package celvalidation

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness"
)

// TestSamples applies every sample as `kubectl apply --dry-run=server` would: the samples in
// config/samples are admitted, each one in config/samples/invalid is refused with the message
// its "# expect:" line names.
func TestSamples(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "config", "samples")
	valid, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	invalid, _ := filepath.Glob(filepath.Join(dir, "invalid", "*.yaml"))
	if len(valid) == 0 || len(invalid) == 0 {
		t.Fatalf("no samples under %s", dir)
	}
	for _, file := range valid {
		t.Run(filepath.Base(file), func(t *testing.T) {
			obj, _ := readSample(t, file)
			expectAdmission(t, obj, "")
		})
	}
	for _, file := range invalid {
		t.Run("invalid/"+filepath.Base(file), func(t *testing.T) {
			obj, want := readSample(t, file)
			if want == "" {
				t.Fatalf("%s has no '# expect:' line", file)
			}
			expectAdmission(t, obj, want)
		})
	}
}

// readSample reads one object and the text of its "# expect:" comment, if any.
func readSample(t *testing.T, file string) (*unstructured.Unstructured, string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var want string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# expect: "); ok {
			want = rest
		}
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &obj.Object); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return obj, want
}
