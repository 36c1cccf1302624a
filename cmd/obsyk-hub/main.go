// Command obsyk-hub is the Obsyk hub: one controller per fleet that streams the metadata of
// many member clusters to the Obsyk platform.
//
// Today it offers only `version`; `run`, `keygen` and `cluster add|remove` arrive with the
// reconciler work and are listed as not available rather than pretending to run.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `obsyk-hub streams the metadata of many Kubernetes clusters to the Obsyk platform.

Usage:
  obsyk-hub version     print the version

Not available yet in this build: run, keygen, cluster add, cluster remove.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintf(stdout, "obsyk-hub %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "obsyk-hub: unknown or not yet available command %q\n\n%s", args[0], usage)
		return 2
	}
}
