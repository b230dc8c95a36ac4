// Command image builds Gatehouse's container image without a container
// daemon, reproducibly, and checks that it runs. scripts/image.sh drives it;
// it is a module of its own so that go-containerregistry stays out of the
// gatehouse binary's module graph.
//
//	image build --out DIR --binary linux/amd64=PATH [--binary linux/arm64=PATH] \
//	      --ca-certs FILE --zoneinfo FILE --epoch SECONDS --version V --revision SHA
//	image verify --layout DIR/oci [--platform linux/amd64] [--timeout 60s]
//
// build writes DIR/oci (an OCI image layout holding one multi-platform image
// index, tagged with the version) and DIR/gatehouse-VERSION-OS-ARCH.tar per
// platform (a tarball that docker load and podman load accept), and prints
// the index's digest. Every timestamp is --epoch (SOURCE_DATE_EPOCH: the
// commit's time) and every file is listed in a fixed order with fixed
// owners, so that the same inputs give the same digest.
//
// verify unpacks one platform's root file system from the layout and runs
// its entrypoint with the image config's user, environment and arguments
// (the data directory pointed to the volume inside the unpacked root),
// waits for /readyz, runs the image's health check command, then stops the
// server with SIGTERM and wants exit status 0: what a container runtime
// would do, for machines that have none.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: image build|verify [flags] (see the package comment)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = build(os.Args[2:])
	case "verify":
		err = verify(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want build or verify", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}
