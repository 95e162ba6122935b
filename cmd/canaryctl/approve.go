package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/rollout/message"
)

// approveTimeout bounds an approval request to the daemon.
const approveTimeout = 30 * time.Second

// runApprove returns the approve or deny command: it answers the approval
// gate an analysis waits at through the daemon's HTTP API.
func runApprove(action string) func(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return func(args []string, _ io.Reader, stdout, stderr io.Writer) int {
		fs := pflag.NewFlagSet(action, pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		withHelp(fs, action, stderr)
		base := fs.String("url", "http://127.0.0.1:9780", "the canaryd to ask (user:password@ in the URL for basic auth)")
		by := fs.String("by", os.Getenv("USER"), "who answers, for the record (default $USER)")
		reason := fs.String("reason", "", "why, for the record")
		step := fs.Int("step", 0, "the step answered (1-based); a retried command then never answers the next gate. Default: the step waiting")
		output := fs.StringP("output", "o", "text", "output format: text or json")
		if err := fs.Parse(args); err != nil {
			return flagError(fs, err, stderr)
		}
		switch {
		case fs.NArg() != 1:
			return flagError(fs, errors.New("give one analysis id"), stderr)
		case strings.TrimSpace(*by) == "":
			return flagError(fs, errors.New("--by is required: who answers"), stderr)
		case *output != "text" && *output != "json":
			return flagError(fs, fmt.Errorf("--output %q is not text or json", *output), stderr)
		}
		u, err := url.Parse(strings.TrimSuffix(*base, "/") + "/")
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return flagError(fs, fmt.Errorf("--url %q is not an http or https URL", *base), stderr)
		}
		id := fs.Arg(0)
		body, _ := json.Marshal(message.ApprovalRequest{By: *by, Reason: *reason, Step: *step})
		ctx, cancel := context.WithTimeout(context.Background(), approveTimeout)
		defer cancel()
		b, err := postJSON(ctx, u, "api/v1/analyses/"+url.PathEscape(id)+"/"+action, body)
		if err != nil {
			fmt.Fprintf(stderr, "canaryctl %s: %v\n", action, err)
			return 1
		}
		if *output == "json" {
			stdout.Write(b)
			return 0
		}
		var rep message.ApprovalReply
		if err := json.Unmarshal(b, &rep); err != nil || rep.Verdict == nil {
			fmt.Fprintf(stderr, "canaryctl %s: unexpected answer %q\n", action, b)
			return 1
		}
		v := rep.Verdict
		what := "answered"
		if rep.Repeated {
			what = "already answered"
		}
		fmt.Fprintf(stdout, "%s %s: verdict #%d %s, weight %v%% -> %v%%: %s\n", what, id, v.Seq, v.Verdict, v.Weight, v.NextWeight, v.Reason)
		return 0
	}
}

// postJSON posts body to path under base and returns the answer's body;
// an answer other than 200 is an error with the daemon's message.
func postJSON(ctx context.Context, base *url.URL, path string, body []byte) ([]byte, error) {
	u := base.JoinPath(path)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if pw, ok := base.User.Password(); ok {
		req.SetBasicAuth(base.User.Username(), pw)
	}
	where := u.Redacted()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("POST %s: %w", where, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", where, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return nil, fmt.Errorf("POST %s: %s: %s", where, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}
