package dataplane

import (
	"context"
	"strings"
	"testing"
)

func TestParseDomainPresets(t *testing.T) {
	for _, tc := range []struct {
		desc, in string
		want     string // String() of the result
		wantErr  string
	}{
		{desc: "defaults round-trip", in: DefaultDomainPresets().String(),
			want: "emerald.devops.gov.bc.ca=emerald,gold.devops.gov.bc.ca=gold,golddr.devops.gov.bc.ca=golddr,silver.devops.gov.bc.ca=silver"},
		{desc: "spaces, case and trailing dot", in: " Example.COM. = silver , ", want: "example.com=silver"},
		{desc: "empty", in: "", want: ""},
		{desc: "no equals sign", in: "example.com", wantErr: "not suffix=preset"},
		{desc: "empty preset", in: "example.com=", wantErr: "not suffix=preset"},
		{desc: "unknown preset", in: "example.com=bronze", wantErr: `unknown data-plane preset "bronze"`},
		{desc: "bad suffix", in: "exa_mple.com=gold", wantErr: `domain suffix "exa_mple.com"`},
		{desc: "suffix twice", in: "a.org=gold,a.org=silver", wantErr: "given twice"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var d DomainPresets
			err := d.Set(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Set(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Set(%q): %v", tc.in, err)
			}
			if got := d.String(); got != tc.want {
				t.Errorf("Set(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestDomainPresetsMatch(t *testing.T) {
	d := DefaultDomainPresets()
	d["devops.gov.bc.ca"] = "silver" // a shorter suffix must lose against a longer one
	for _, tc := range []struct {
		domain, wantPreset, wantSuffix string
	}{
		{"silver.devops.gov.bc.ca", "silver", "silver.devops.gov.bc.ca"},
		{"api.gold.devops.gov.bc.ca", "gold", "gold.devops.gov.bc.ca"},
		{"GOLDDR.devops.gov.bc.ca.", "golddr", "golddr.devops.gov.bc.ca"},
		{"apps.emerald.devops.gov.bc.ca", "emerald", "emerald.devops.gov.bc.ca"},
		{"bronze.devops.gov.bc.ca", "silver", "devops.gov.bc.ca"},
		{"xgold.devops.gov.bc.ca", "silver", "devops.gov.bc.ca"}, // label boundary, not a substring
		{"example.com", "", ""},
		{"", "", ""},
	} {
		suffix, preset, ok := d.Match(tc.domain)
		if preset != tc.wantPreset || suffix != tc.wantSuffix || ok != (tc.wantPreset != "") {
			t.Errorf("Match(%q) = %q, %q, %v; want %q, %q", tc.domain, suffix, preset, ok, tc.wantSuffix, tc.wantPreset)
		}
	}
}

// Choices that need no API server: the explicit flag and detection switched off.
func TestChooseWithoutDetection(t *testing.T) {
	ctx := context.Background()
	got, err := Choose(ctx, nil, Options{Preset: "gold", Detect: true, Domains: DefaultDomainPresets()})
	if err != nil || got.Preset != "gold" || got.Reason != ReasonExplicit {
		t.Errorf("explicit preset: got %+v, %v", got, err)
	}
	if _, err := Choose(ctx, nil, Options{Preset: "bronze"}); err == nil || !strings.Contains(err.Error(), "unknown data-plane preset") {
		t.Errorf("unknown explicit preset: error = %v", err)
	}
	got, err = Choose(ctx, nil, Options{Detect: false, Domains: DefaultDomainPresets()})
	if err != nil || got.Preset != "" || !strings.Contains(got.Reason, "detection is off") {
		t.Errorf("detection off: got %+v, %v", got, err)
	}
}
