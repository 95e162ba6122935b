package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/configs"
)

// runCheckConfig validates config files: exit 0 when every file is valid,
// 1 with every problem (file:line: field: message) otherwise.
func runCheckConfig(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("check-config", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: canaryctl check-config FILE [FILE...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	code := 0
	for _, f := range fs.Args() {
		cfg, err := configs.LoadFile(f)
		if err != nil {
			code = 1
			var ps configs.Problems
			if errors.As(err, &ps) {
				fmt.Fprintf(stdout, "%s: FAILED: %d problem(s)\n", f, len(ps))
				for _, p := range ps {
					fmt.Fprintf(stdout, "  %s\n", p.Error())
				}
			} else {
				fmt.Fprintf(stdout, "%s: FAILED: %v\n", f, err)
			}
			continue
		}
		metricsN := 0
		for _, t := range cfg.Templates {
			metricsN += len(t.Metrics)
		}
		fmt.Fprintf(stdout, "%s: SUCCESS: %d template(s), %d metric(s)\n", f, len(cfg.Templates), metricsN)
	}
	return code
}

// usageError maps a flag parsing error to an exit code: 0 for --help.
func usageError(err error) int {
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	return 2
}
