//go:build tools

// Package tools pins the Kubernetes commands built by tests/cluster/build.sh,
// so `go mod tidy` keeps k8s.io/kubernetes and everything they need.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
