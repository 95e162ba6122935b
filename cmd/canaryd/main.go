// Command canaryd is the canary analysis daemon: deploy events in over
// NATS JetStream, verdicts out, state in a JetStream key-value bucket, and
// an HTTP API for CD tools. See package app and the README.
package main

import "os"

func main() { os.Exit(run(os.Args[1:])) }
