//go:build tools

// Package tools pins Helm's main package so that `go build` can build it
// from this module.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
