//go:build tools

// Package tools pins etcd's server main package (go.etcd.io/etcd/server/v3, whose main.go
// calls etcdmain.Main) so that `go mod tidy` keeps its requirements. It is the storage
// backend of the test sandbox's kube-apiserver.
package tools

import _ "go.etcd.io/etcd/server/v3"
