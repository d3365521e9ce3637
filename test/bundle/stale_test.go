package bundle_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/bundle"
)

// bundle/ and bundle.Dockerfile are what `make bundle` makes of config/ today, for the
// version, image and channels they were made for.
func TestBundleIsUpToDate(t *testing.T) {
	b := loadBundle(t)
	o := bundle.Options{
		Root:           root(),
		Version:        b.CSV.Spec.Version.String(),
		Image:          b.CSV.Annotations["containerImage"],
		Channels:       b.Channels,
		DefaultChannel: b.DefaultChannel,
		Upgrade: bundle.Upgrade{
			Replaces:  strings.TrimPrefix(b.CSV.Spec.Replaces, bundle.PackageName+".v"),
			SkipRange: b.CSV.Annotations["olm.skipRange"],
		},
		Platforms: csvPlatforms(b.CSV.Labels),
	}
	fix := "run `make bundle VERSION=" + o.Version + " IMG=" + o.Image + " PREVIOUS_VERSION=" + o.Replaces +
		" SKIP_RANGE='" + o.SkipRange + "'` and commit bundle/ and bundle.Dockerfile"

	want, err := bundle.Generate(o)
	if err != nil {
		t.Fatalf("generating the bundle from config/: %v", err)
	}
	// Generate into a temporary directory, as `make bundle` would, and compare the trees.
	tmp := t.TempDir()
	if err := bundle.Write(tmp, want); err != nil {
		t.Fatal(err)
	}
	fresh, have := tree(t, tmp), tree(t, root())
	var stale []string
	for p, data := range fresh {
		if !bytes.Equal(have[p], data) {
			stale = append(stale, p+" differs")
		}
	}
	for p := range have {
		if _, ok := fresh[p]; !ok {
			stale = append(stale, p+" should not be there")
		}
	}
	slices.Sort(stale)
	if len(stale) > 0 {
		t.Errorf("the bundle is stale against config/: %s\n%s", fix, strings.Join(stale, "\n"))
	}
}

// tree reads the bundle's files under root: bundle.Dockerfile and everything under bundle/.
func tree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	read := func(rel string) {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		files[rel] = data
	}
	read(bundle.DockerfileName)
	err := filepath.WalkDir(filepath.Join(root, "bundle"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err == nil {
			read(filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// csvPlatforms are the os/arch pairs the CSV's operatorframework.io labels claim, sorted.
func csvPlatforms(labels map[string]string) []string {
	var oses, archs []string
	for k, v := range labels {
		if v != "supported" {
			continue
		}
		if os, ok := strings.CutPrefix(k, "operatorframework.io/os."); ok {
			oses = append(oses, os)
		}
		if arch, ok := strings.CutPrefix(k, "operatorframework.io/arch."); ok {
			archs = append(archs, arch)
		}
	}
	var out []string
	for _, os := range oses {
		for _, arch := range archs {
			out = append(out, os+"/"+arch)
		}
	}
	slices.Sort(out)
	return out
}
