package dataplane

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DomainPresets maps DNS suffixes of clusters to the data-plane preset each cluster uses. A
// cluster whose domain is a suffix, or ends in "." followed by it, uses that preset; the
// longest matching suffix wins. It is a flag.Value: "suffix=preset,suffix=preset".
type DomainPresets map[string]string

// DefaultDomainPresets are the reference platform's clusters; each serves its applications
// under apps.<cluster>.devops.gov.bc.ca (docs/gateway-config.md).
func DefaultDomainPresets() DomainPresets {
	return DomainPresets{
		"silver.devops.gov.bc.ca":  "silver",
		"gold.devops.gov.bc.ca":    "gold",
		"golddr.devops.gov.bc.ca":  "golddr",
		"emerald.devops.gov.bc.ca": "emerald",
	}
}

// ParseDomainPresets parses "suffix=preset,suffix=preset". Suffixes must be DNS names, presets
// built-in preset names; an empty string gives an empty map.
func ParseDomainPresets(s string) (DomainPresets, error) {
	d := DomainPresets{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		suffix, preset, ok := strings.Cut(pair, "=")
		suffix = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(suffix), "."))
		preset = strings.TrimSpace(preset)
		if !ok || suffix == "" || preset == "" {
			return nil, fmt.Errorf("%q is not suffix=preset", pair)
		}
		if errs := validation.IsDNS1123Subdomain(suffix); len(errs) > 0 {
			return nil, fmt.Errorf("domain suffix %q: %s", suffix, strings.Join(errs, "; "))
		}
		if err := ValidatePreset(preset); err != nil {
			return nil, fmt.Errorf("domain suffix %q: %w", suffix, err)
		}
		if prev, dup := d[suffix]; dup && prev != preset {
			return nil, fmt.Errorf("domain suffix %q is given twice, for presets %q and %q", suffix, prev, preset)
		}
		d[suffix] = preset
	}
	return d, nil
}

// String renders the map as the flag takes it, sorted by suffix.
func (d DomainPresets) String() string {
	pairs := make([]string, 0, len(d))
	for _, suffix := range d.suffixes() {
		pairs = append(pairs, suffix+"="+d[suffix])
	}
	return strings.Join(pairs, ",")
}

// Set replaces the map with the parsed value (flag.Value).
func (d *DomainPresets) Set(s string) error {
	parsed, err := ParseDomainPresets(s)
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}

// Match returns the preset of the longest suffix that domain ends with on a label boundary.
func (d DomainPresets) Match(domain string) (suffix, preset string, ok bool) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	for s, p := range d {
		if (domain == s || strings.HasSuffix(domain, "."+s)) && len(s) > len(suffix) {
			suffix, preset, ok = s, p, true
		}
	}
	return suffix, preset, ok
}

func (d DomainPresets) suffixes() []string { return slices.Sorted(maps.Keys(d)) }
