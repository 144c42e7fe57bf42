// Command fleetward-testcp is a real Kubernetes control plane in one binary, for Fleetward's
// tests: `fleetward-testcp etcd ARGS`, `fleetward-testcp kube-apiserver ARGS` and
// `fleetward-testcp kube-controller-manager ARGS` run the upstream programs with their own flags.
//
// It exists so the tests can build kube-apiserver, kube-controller-manager and etcd from pinned
// Go modules (see ../../go.mod and scripts/build-control-plane.sh) instead of downloading
// release binaries. One binary links the shared dependencies once.
package main

import (
	"fmt"
	"io"
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

const usage = "usage: fleetward-testcp etcd|kube-apiserver|kube-controller-manager [flags]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	program, args := os.Args[1], os.Args[2:]
	if os.Getenv("FLEETWARD_TESTCP_LIFELINE") == "stdin" {
		go exitWhenStdinCloses()
	}
	switch program {
	case "etcd":
		// etcdmain reads its flags from the argument list it is given, program name first.
		etcdmain.Main(append([]string{"etcd"}, args...))
	case "kube-apiserver":
		command := apiserver.NewAPIServerCommand()
		command.SetArgs(args)
		os.Exit(cli.Run(command))
	case "kube-controller-manager":
		command := controllermanager.NewControllerManagerCommand()
		command.SetArgs(args)
		os.Exit(cli.Run(command))
	default:
		fmt.Fprintf(os.Stderr, "unknown program %q\n%s\n", program, usage)
		os.Exit(2)
	}
}

// exitWhenStdinCloses blocks until standard input is closed, then ends the process.
func exitWhenStdinCloses() {
	_, _ = io.Copy(io.Discard, os.Stdin)
	fmt.Fprintln(os.Stderr, "fleetward-testcp: parent closed stdin; exiting")
	os.Exit(0)
}
