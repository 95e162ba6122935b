package main

import (
	"path/filepath"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yml")
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"help", []string{"--help"}, 0},
		{"unknown flag", []string{"--no-such-flag"}, 2},
		{"bad log level", []string{"--log.level=loud"}, 2},
		{"missing config", []string{"--config.file=" + missing, "--web.listen-address=127.0.0.1:0"}, 1},
		{"demo help", []string{"demo", "--help"}, 0},
		{"demo unknown flag", []string{"demo", "--no-such-flag"}, 2},
	}
	for _, tt := range tests {
		if got := run(tt.args); got != tt.want {
			t.Errorf("%s: run(%q) = %d, want %d", tt.name, tt.args, got, tt.want)
		}
	}
}
