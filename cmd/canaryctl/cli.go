package main

import (
	"fmt"
	"io"
	"sort"
)

// command is one canaryctl subcommand. It parses its own flags from args and
// returns the process exit code: 0 success, 1 a negative result or bad input,
// 2 a usage error.
type command struct {
	summary string
	run     func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands lists every subcommand by name.
func commands() map[string]command {
	return map[string]command{
		"audit":        {"export the audit trail (every decision, its inputs and actor) as JSON lines, from NATS", runAudit},
		"approve":      {"approve the step an analysis waits at (a running canaryd's API)", runApprove("approve")},
		"deny":         {"deny the step an analysis waits at: the canary rolls back", runApprove("deny")},
		"compare":      {"compare a canary sample with a baseline sample (Mann-Whitney U, Hodges-Lehmann)", runCompare},
		"check-config": {"validate config files and list every problem with its line", runCheckConfig},
		"judge":        {"judge one set of baseline and canary samples with a template", runJudge},
		"replay":       {"replay a recorded analysis interval by interval, as the daemon would", runReplay},
		"report":       {"replay a recording and write its analysis report as one self-contained HTML file", runReport},
		"watch":        {"print verdict events live from NATS, as a mesh adapter consumes them", runWatch},
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "canaryctl: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(args[1:], stdin, stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: canaryctl <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nExamples:")
	fmt.Fprintln(w, "  canaryctl check-config configs/example.yml")
	fmt.Fprintln(w, "  canaryctl replay --config testdata/recordings/config.yml --template scenario --recording testdata/recordings/healthy.json")
	fmt.Fprintln(w, "\nRun 'canaryctl <command> --help' for what a command does, an example and its flags.")
}
