// Command obsyk-hub is the Obsyk hub: one controller per fleet that streams the metadata of
// many member clusters to the Obsyk platform.
//
// Commands: keygen (a P-256 key pair and a credentials Secret manifest), cluster add and
// cluster remove (member registration, wrapping clusterregistry), version, and run: the hub
// manager (controllers.Hub).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `obsyk-hub streams the metadata of many Kubernetes clusters to the Obsyk platform.

Usage:
  obsyk-hub keygen [flags]           generate a P-256 key pair and a credentials Secret manifest
  obsyk-hub cluster add [flags]      register a member cluster with the hub
  obsyk-hub cluster remove [flags]   unregister a member cluster
  obsyk-hub version                  print the version
  obsyk-hub run [flags]              run the hub: serve every ObsykAgent

Run 'obsyk-hub <command> --help' for the flags of a command.
`

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line is wrong, or the command is not available
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args (without the program name) and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintf(stdout, "obsyk-hub %s\n", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "keygen":
		return runKeygen(args[1:], stdout, stderr)
	case "cluster":
		return runCluster(args[1:], stdout, stderr)
	case "run":
		return runManager(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "obsyk-hub: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

// newFlagSet returns a flag set that reports errors to its caller instead of printing them.
func newFlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	return fs
}

// parseFlags parses args into fs. done is true when the caller must return code: after
// --help (usage on stdout, exit 0) or a usage error (one line on stderr, exit 2). Positional
// arguments are refused.
func parseFlags(fs *pflag.FlagSet, name, summary string, args []string, stdout, stderr io.Writer) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		if summary != "" {
			fmt.Fprintf(stdout, "%s\n\n", summary)
		}
		fmt.Fprintf(stdout, "Usage:\n  %s [flags]\n\nFlags:\n%s", name, fs.FlagUsages())
		return exitOK, true
	case err != nil:
		return usageError(stderr, name, err.Error()), true
	case fs.NArg() > 0:
		return usageError(stderr, name, fmt.Sprintf("unexpected argument %q", fs.Arg(0))), true
	}
	return exitOK, false
}

// usageError prints a one-line usage error and returns exitUsage.
func usageError(stderr io.Writer, name, msg string) int {
	fmt.Fprintf(stderr, "%s: %s (see '%s --help')\n", name, msg, name)
	return exitUsage
}

// failure prints a one-line error and returns exitError.
func failure(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err))
	return exitError
}

// oneLine joins the lines of a (possibly joined) error with "; ".
func oneLine(err error) string {
	return strings.Join(strings.Split(strings.TrimSpace(err.Error()), "\n"), "; ")
}
