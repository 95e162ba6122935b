// Package oracle reads the outside oracles tests check canaryd against:
// the shared directory beside the repository (../shared: Mann-Whitney cases
// computed with R and SciPy, simulated canaries with known ground truth).
package oracle

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// SharedDir returns the shared directory: ../shared relative to the module
// root, found by walking up from the working directory to go.mod.
func SharedDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("oracle: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Bound is an interval end: a number, or the string "+Inf" or "-Inf".
type Bound float64

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bound) UnmarshalJSON(p []byte) error {
	switch string(p) {
	case `"+Inf"`:
		*b = Bound(math.Inf(1))
		return nil
	case `"-Inf"`:
		*b = Bound(math.Inf(-1))
		return nil
	}
	var f float64
	if err := json.Unmarshal(p, &f); err != nil {
		return fmt.Errorf("interval bound %s: %w", p, err)
	}
	*b = Bound(f)
	return nil
}

// Case is one line of oracles/mannwhitney.jsonl (R 4.2.2, SciPy 1.10.1 and
// brute-force NumPy; see its README for the conventions and tolerances).
type Case struct {
	ID          string    `json:"id"`
	Canary      []float64 `json:"canary"`
	Baseline    []float64 `json:"baseline"`
	Alternative string    `json:"alternative"`
	Confidence  float64   `json:"confidence"`
	Method      string    `json:"method"`
	U           float64   `json:"u"`
	PValue      float64   `json:"p_value"`
	HLShift     float64   `json:"hl_shift"`
	CI          [2]Bound  `json:"ci"`
}

// MannWhitney reads every Mann-Whitney oracle case.
func MannWhitney() ([]Case, error) {
	dir, err := SharedDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "oracles", "mannwhitney.jsonl")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("oracle: %w", err)
	}
	var cases []Case
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var c Case
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("%s: no cases", path)
	}
	return cases, nil
}

// Near reports whether got is within rel of want (relative) or within abs
// of it; infinities must match exactly.
func Near(got, want, rel, abs float64) bool {
	if math.IsInf(want, 0) || math.IsInf(got, 0) {
		return got == want
	}
	d := math.Abs(got - want)
	return d <= abs || d <= rel*math.Abs(want)
}
