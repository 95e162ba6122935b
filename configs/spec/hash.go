package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	yaml "go.yaml.in/yaml/v2"
)

// Hash identifies what t judges with: the SHA-256 of its YAML as loaded,
// defaults included, written "sha256:" and the first 16 hex digits. Two
// templates with the same settings have the same hash, whatever their
// files' layout and comments; a reload that changes any setting changes
// it. The audit trail records it with every decision.
func (t *Template) Hash() string {
	b, err := yaml.Marshal(t)
	if err != nil { // a loaded template always encodes
		panic(fmt.Sprintf("spec: encode template %q: %v", t.Name, err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:8])
}
