// Package contract holds canaryd's contract tests with the CD tools it
// integrates with, run in the tools' own code: Argo Rollouts' AnalysisRun
// controller with its web metric provider, and Flagger's controller, its
// webhook client and its Canary schema. It is a module of its own, so that the daemon's
// go.mod does not carry the tools' dependencies.
//
// The tests read the recipes from the README's YAML blocks, decode them
// strictly into the tools' types, validate them with the tools'
// validation, and run them against a real canaryd judging a real
// Prometheus: a healthy canary, a regressed one, one never judged (no
// data), a new revision after an approved one, and an analysis canaryd
// cannot start.
package contract
