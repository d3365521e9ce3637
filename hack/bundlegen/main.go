// Command bundlegen writes the operator's OLM bundle (bundle/, bundle.Dockerfile) from
// config/. `make bundle VERSION=x.y.z IMG=...` runs it; see docs/install.md.
//
//	go run ./hack/bundlegen --version 0.1.0 --image quay.io/gatewaytenant/gatewaytenant-operator:v0.1.0 [--config my-overlay]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/bundle"
)

func main() {
	o := bundle.Options{Root: "."}
	var channels, platforms string
	flag.StringVar(&o.Root, "root", ".", "repository root: config/ is read and bundle/ written there")
	flag.StringVar(&o.Config, "config", "", "the kustomization to render: config/default under --root when empty, or your overlay of it")
	flag.StringVar(&o.Version, "version", "", "the operator's version, x.y.z (required)")
	flag.StringVar(&o.Image, "image", "", "the operator image, which runs the manager and the proxies (required)")
	flag.StringVar(&channels, "channels", "candidate", "comma-separated OLM channels of the bundle")
	flag.StringVar(&o.DefaultChannel, "default-channel", "candidate", "the package's default channel")
	flag.StringVar(&o.Replaces, "replaces", "", "the previous release x.y.z this version replaces in the update graph (spec.replaces)")
	flag.StringVar(&o.SkipRange, "skip-range", "", `semver range of versions that upgrade straight to this one (olm.skipRange), e.g. "<0.2.0"`)
	flag.StringVar(&platforms, "platforms", "linux/amd64", "comma-separated os/arch the image is built for (operatorframework.io/os.* and arch.* labels)")
	flag.Parse()
	o.Channels = strings.Split(channels, ",")
	o.Platforms = strings.Split(platforms, ",")

	files, err := bundle.Generate(o)
	if err == nil {
		err = bundle.Write(o.Root, files)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bundlegen:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s/ and %s for %s %s (%s)\n", "bundle", bundle.DockerfileName, bundle.PackageName, o.Version, o.Image)
}
