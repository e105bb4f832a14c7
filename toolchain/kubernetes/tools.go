//go:build tools

// Package tools pins the main packages of kube-apiserver and kube-controller-manager so that
// `go mod tidy` keeps their requirements. The test sandbox runs them the way envtest does:
// etcd + kube-apiserver (+ kube-controller-manager), no scheduler and no kubelet.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
