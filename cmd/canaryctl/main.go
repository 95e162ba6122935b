// Command canaryctl is canaryd's companion CLI: it checks configs, compares
// samples, judges and replays analyses offline, and talks to a running daemon.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
