//go:build tools

// Package tools pins the Kubernetes provider plugin's main package so that `go mod tidy` keeps it.
package tools

import _ "github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes"
