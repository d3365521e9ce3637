//go:build !bench

package main

import "github.com/gatewaytenant/gatewaytenant-operator/internal/manager"

// benchHarness is nil: the product manager has no test seams (harness_bench.go).
func benchHarness() *manager.Harness { return nil }
