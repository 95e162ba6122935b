package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/cmd/canaryd/demo"
)

// runDemo is `canaryd demo`: the daemon's whole job on embedded defaults,
// a healthy canary promoted and a regressed one rolled back.
func runDemo(args []string) int {
	fs := pflag.NewFlagSet("canaryd demo", pflag.ContinueOnError)
	listen := fs.String("web.listen-address", "127.0.0.1:0", "Address of the demo daemon's HTTP API.")
	speed := fs.Float64("speed", 30, "How much faster than the wall clock simulated time runs.")
	hold := fs.Bool("hold", false, "Keep the daemon, its API and the reports served after every rollout ends, until interrupted.")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: canaryd demo [flags]

Run canaryd's whole job on embedded defaults: an embedded NATS server, an
embedded Prometheus-compatible metrics source and simulated services, on a
compressed clock. A healthy canary is promoted step by step (the demo
approves its last step after a pause) and a regressed one rolled back; the
verdicts are printed as they come, with links to the reports while --hold
keeps them served.

Examples:
  canaryd demo
  canaryd demo --speed 60 --hold --web.listen-address 127.0.0.1:9780

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := demo.Options{Out: os.Stdout, ListenAddress: *listen, Factor: *speed}
	if *hold {
		opts.Hold = func(ctx context.Context, _ *demo.Result) {
			fmt.Println("\nServing the API and the reports until interrupted (Ctrl-C).")
			<-ctx.Done()
		}
	}
	if _, err := demo.Run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "canaryd demo:", err)
		return 1
	}
	return 0
}
