package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout/message"
)

// runWatch prints verdict events live, as a mesh adapter consumes them.
func runWatch(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("watch", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs)
	service := fs.String("service", "", "only this service's verdicts")
	namespace := fs.String("namespace", "", "only this namespace's verdicts")
	limit := fs.Int("limit", 0, "exit after this many verdicts (0: until interrupted)")
	output := fs.StringP("output", "o", "text", "output format: text or json (one verdict event per line, as published)")
	withHelp(fs, "watch", stderr)
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "canaryctl watch: --output must be text or json, got %q\n", *output)
		return 2
	}
	nc, err := nf.connect("canaryctl watch", nats.MaxReconnects(-1))
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl watch: connect to %s: %v\n", *nf.url, err)
		return 1
	}
	defer nc.Close()

	subject := message.VerdictSubject(orWildcard(*namespace), orWildcard(*service))
	msgs := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(subject, msgs)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl watch: subscribe %s: %v\n", subject, err)
		return 1
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		fmt.Fprintf(stderr, "canaryctl watch: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "watching %s on %s\n", subject, nc.ConnectedUrlRedacted())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	seen := 0
	for {
		select {
		case <-ctx.Done():
			return 0
		case m := <-msgs:
			if *output == "json" {
				fmt.Fprintln(stdout, strings.TrimSpace(string(m.Data)))
			} else {
				var v message.VerdictSummary
				if err := json.Unmarshal(m.Data, &v); err != nil {
					fmt.Fprintf(stderr, "canaryctl watch: %s: undecodable verdict: %v\n", m.Subject, err)
					continue
				}
				printVerdict(stdout, &v)
			}
			seen++
			if *limit > 0 && seen >= *limit {
				return 0
			}
		}
	}
}

func orWildcard(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

// printVerdict prints a verdict summary: the decision, the reason, and the
// metrics that did not pass, by classification (the evidence is in the
// audit record: canaryctl audit --analysis ID, or GET
// /api/v1/analyses/ID).
func printVerdict(w io.Writer, v *message.VerdictSummary) {
	at := v.IssuedAt.Format("15:04:05")
	final := ""
	if v.Final {
		final = " (final: " + string(v.Outcome) + ")"
	}
	fmt.Fprintf(w, "%s %s/%s %s #%d step %d: %s%s, weight %g%% -> %g%%, %s\n    %s\n",
		at, v.Namespace, v.Service, v.AnalysisID, v.Seq, v.Step, strings.ToUpper(string(v.Verdict)), final,
		v.Weight, v.NextWeight, scoreText(float64(v.Score)), v.Reason)
	var other []string
	for _, c := range slices.Sorted(maps.Keys(v.Classifications)) {
		if c != analysis.Pass {
			other = append(other, string(c)+": "+strings.Join(v.Classifications[c], ", "))
		}
	}
	if len(other) > 0 {
		fmt.Fprintf(w, "    %s\n", strings.Join(other, "; "))
	}
}
