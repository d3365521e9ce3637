package bundle_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerfile is what the checks need to know of a Dockerfile: its stages' instructions,
// continuation lines joined.
type dockerfile struct {
	stages [][]string // instructions per stage, each "KEYWORD args"
}

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d dockerfile
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		ins := cur.String()
		cur.Reset()
		if strings.HasPrefix(ins, "FROM ") {
			d.stages = append(d.stages, nil)
		}
		if len(d.stages) == 0 {
			t.Fatalf("%s: instruction before FROM: %s", path, ins)
		}
		d.stages[len(d.stages)-1] = append(d.stages[len(d.stages)-1], ins)
	}
	return d
}

// The image builds from what the repository holds: the builder stage copies every package
// the two binaries import, nothing it copies is excluded by .dockerignore or missing, it
// builds with the script `make docker-build-binaries` runs, and the final image runs as a
// non-root user and carries the OpenShift certification labels and /licenses.
func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t, filepath.Join(root(), "Dockerfile"))
	if len(d.stages) != 2 {
		t.Fatalf("want a builder and a final stage, got %d stages", len(d.stages))
	}
	ignored := dockerignore(t)
	var copied []string
	for i, stage := range d.stages {
		for _, ins := range stage {
			args, ok := strings.CutPrefix(ins, "COPY ")
			if !ok || strings.HasPrefix(args, "--from=") {
				continue
			}
			fields := strings.Fields(args)
			for _, src := range fields[:len(fields)-1] {
				if _, err := os.Stat(filepath.Join(root(), src)); err != nil {
					t.Errorf("stage %d copies %s: %v", i, src, err)
				}
				if slices.ContainsFunc(ignored, func(p string) bool { return strings.HasPrefix(src, p) }) {
					t.Errorf("stage %d copies %s, which .dockerignore leaves out", i, src)
				}
				if i == 0 {
					copied = append(copied, strings.TrimSuffix(src, "/"))
				}
			}
		}
	}

	t.Run("builder copies every imported package", func(t *testing.T) {
		out, err := exec.Command("go", "list", "-C", root(), "-deps", "-f", "{{.Dir}}", "./cmd/manager", "./cmd/proxy").Output()
		if err != nil {
			t.Fatalf("go list -deps: %v", err)
		}
		for _, dir := range strings.Fields(string(out)) {
			rel, err := filepath.Rel(root(), dir)
			if err != nil || strings.HasPrefix(rel, "..") {
				continue // not this module's
			}
			top := strings.Split(filepath.ToSlash(rel), "/")[0]
			if !slices.Contains(copied, top) {
				t.Errorf("package directory %s is not copied into the builder stage (copied: %v)", rel, copied)
			}
		}
	})

	t.Run("builder runs the script of make docker-build-binaries", func(t *testing.T) {
		const script = "hack/build-image-binaries.sh"
		if !slices.ContainsFunc(d.stages[0], func(ins string) bool { return strings.HasPrefix(ins, "RUN ") && strings.Contains(ins, script) }) {
			t.Errorf("the builder stage does not RUN %s", script)
		}
		makefile, err := os.ReadFile(filepath.Join(root(), "Makefile"))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^docker-build-binaries:.*\n\t` + regexp.QuoteMeta(script) + ` `).Match(makefile) {
			t.Errorf("make docker-build-binaries does not run %s", script)
		}
	})

	t.Run("builder cross-compiles on the build platform", func(t *testing.T) {
		builder := strings.Join(d.stages[0], "\n")
		if !strings.HasPrefix(builder, "FROM --platform=$BUILDPLATFORM ") {
			t.Errorf("the builder stage does not run on $BUILDPLATFORM: %s", d.stages[0][0])
		}
		for _, want := range []string{"ARG TARGETOS", "ARG TARGETARCH", "GOOS=${TARGETOS}", "GOARCH=${TARGETARCH}"} {
			if !strings.Contains(builder, want) {
				t.Errorf("builder stage lacks %q", want)
			}
		}
	})

	t.Run("final image", func(t *testing.T) {
		final := strings.Join(d.stages[1], "\n")
		// Red Hat's certification checks for a UBI base image (docs/install.md).
		if from := d.stages[1][0]; !strings.HasPrefix(from, "FROM registry.access.redhat.com/ubi") {
			t.Errorf("final stage is not based on a UBI image: %s", from)
		}
		// A fixed release cannot tell rebuilds of one version apart.
		if !strings.Contains(final, "ARG RELEASE\n") || !strings.Contains(final, `release="${RELEASE}"`) {
			t.Errorf("the release label does not come from the RELEASE build argument")
		}
		makefile, err := os.ReadFile(filepath.Join(root(), "Makefile"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(makefile), "--build-arg RELEASE=$(RELEASE)") {
			t.Errorf("make docker-build does not pass RELEASE")
		}
		for _, want := range []string{"USER 65532", "COPY LICENSE /licenses/", "ENTRYPOINT [\"/manager\"]"} {
			if !strings.Contains(final, want) {
				t.Errorf("final stage lacks %q", want)
			}
		}
		for _, label := range []string{"name", "vendor", "version", "release", "summary", "description", "maintainer",
			"io.k8s.display-name", "io.k8s.description", "io.openshift.tags"} {
			if !regexp.MustCompile(`(?m)(LABEL |\s)` + regexp.QuoteMeta(label) + `="[^"]+"`).MatchString(final) {
				t.Errorf("final stage has no label %s", label)
			}
		}
	})
}

func dockerignore(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	return patterns
}
