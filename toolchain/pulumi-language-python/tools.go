//go:build tools

// Package tools pins the Python language host's main package so that `go mod tidy` keeps it.
package tools

import _ "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3"
