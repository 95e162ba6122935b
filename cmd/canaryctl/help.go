package main

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// helps holds what each subcommand's --help says before its flags: what it
// does and an example to start from.
var helps = map[string]string{
	"audit": `usage: canaryctl audit export --since DURATION|TIME [flags]

Export canaryd's audit trail: every decision (verdict, approval, denial,
abort, expiry, takeover by another replica, template changed by a reload)
with its inputs and actor, one JSON record per line, as stored in the audit
stream (global.audit.stream, default CANARY_AUDIT), oldest first. It reads
NATS directly, so it works while no canaryd runs and for analyses the
daemon no longer keeps. --since and --until take a duration ago (24h, 7d)
or an RFC 3339 time; records written by a later canaryd are exported as
stored and counted on stderr.

Examples:
  canaryctl audit export --nats.url nats://127.0.0.1:4222 --since 24h -o audit.jsonl
  canaryctl audit export --since 2026-01-01T00:00:00Z --until 2026-01-02T00:00:00Z --namespace shop --service checkout
`,
	"approve": `usage: canaryctl approve ID --by NAME [flags]

Approve the step analysis ID waits at (a template's approvals): the rollout
enters it at once and the verdict that says so goes out, with who approved
and why. Approving again changes nothing and prints the first answer;
approving an analysis that does not wait, or has ended, is refused.

Example:
  canaryctl approve --url http://canaryd:9780 --by ann --reason "dashboards fine" checkout-7f3a
`,
	"deny": `usage: canaryctl deny ID --by NAME [flags]

Deny the step analysis ID waits at: the canary rolls back (weight 0) and
the verdict that says so goes out, with who denied and why. A rollback the
judge has already decided cannot be denied: the rollout has ended.

Example:
  canaryctl deny --url http://canaryd:9780 --by ann --reason "change freeze" checkout-7f3a
`,
	"compare": `usage: canaryctl compare --baseline FILE --canary FILE [flags]

Compare two samples: the Mann-Whitney U test of the canary against the
baseline, and the Hodges-Lehmann shift (the median of all canary - baseline
differences) with its confidence interval. Each file holds one number per
line; - reads standard input.

Examples:
  canaryctl compare --baseline baseline.txt --canary canary.txt
  canaryctl compare --baseline baseline.txt --canary canary.txt --alternative greater -o json
`,
	"judge": `usage: canaryctl judge --config FILE --template NAME --samples FILE [flags]

Judge one set of samples with a template, as the daemon judges one interval:
the verdict (promote, hold or rollback), the score, and each metric's
classification with its evidence. The samples are JSON:
  {"metrics": {"latency_p99": {"baseline": [0.21, 0.22, ...], "canary": [0.23, ...]}}}

Example:
  canaryctl judge --config configs/example.yml --template web --samples samples.json -o json
`,
	"replay": `usage: canaryctl replay --config FILE --template NAME --recording FILE|DIR... [FILE...] [flags]

Replay a recorded analysis interval by interval, in order, with the daemon's
decision logic: each judgement's verdict and the rollout's steps, as if live.
Use it to try new thresholds on past rollouts before shipping them. Reads
canaryd's recording format and the minimal
  {"intervals": [{"metrics": {NAME: {"baseline": [...], "canary": [...]}}}]}
Several recordings (a directory of *.json, the flag repeated, or files as
arguments) are replayed in turn: one line each and a tally of outcomes.

Examples:
  canaryctl replay --config testdata/recordings/config.yml --template scenario \
      --recording testdata/recordings/regressed-p99.json
  canaryctl replay --config thresholds-v2.yml --template web recordings/*.json
`,
	"report": `usage: canaryctl report --config FILE --template NAME --recording FILE --out FILE [flags]
       canaryctl report --overview|--oncall --url URL --out FILE

Replay a recording and write its analysis report, the page canaryd serves at
/analyses/{id}, as one self-contained HTML file (inline SVG and CSS, no
scripts): for tickets, postmortems and replays with new thresholds. The
service and versions come from the recording's metadata or the flags below.

With --overview or --oncall, write instead the page a running canaryd serves
at /overview (for leads: success ratio, durations, time to detect and roll
back per template and namespace over 1d/7d/30d) or /oncall (running
rollouts, failing and holding first, and recent rollbacks), from its
GET /api/v1/rollouts; its links lead to the daemon's analysis reports.

Examples:
  canaryctl report --config testdata/recordings/config.yml --template scenario \
      --recording testdata/recordings/regressed-p99.json --out report.html \
      --service checkout --namespace shop --baseline.version v1 --canary.version v2
  canaryctl report --oncall --url http://canaryd:9780 --out oncall.html
`,
	"watch": `usage: canaryctl watch [flags]

Print verdict events live from NATS, as a mesh adapter consumes them: one
line per verdict (service, step, weight, next weight, verdict, reason), or
each event as published with -o json. Runs until interrupted or --limit.

Examples:
  canaryctl watch --nats.url nats://127.0.0.1:4222
  canaryctl watch --service checkout --namespace shop -o json --limit 1
`,
}

// withHelp makes fs's --help print the subcommand's help, then its flags.
func withHelp(fs *pflag.FlagSet, name string, stderr io.Writer) {
	fs.Usage = func() {
		fmt.Fprint(stderr, helps[name])
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
}
