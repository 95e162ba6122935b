// Package spec holds the analysis templates SREs write: templates,
// metrics and their tests, directions, NaN policies and scales, the
// query templates and their defaults and validation.
//
// It is the part of the configuration that judging a canary needs, kept
// apart from the daemon's connection settings (package configs, which
// also loads the file): spec imports no HTTP or NATS client, so packages
// that judge (analysis, rollout) stay free of them. configs.Load is the
// one loader: it decodes strictly, calls SetDefaults and Validate on
// every template, and reports every problem with its file and line.
package spec
