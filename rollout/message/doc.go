// Package message holds canaryd's wire types, one per message, and their
// subjects: the deploy event that starts an analysis (Event, in on
// canary.deploy.<namespace>.<service> or POST /api/v1/analyses), the
// verdict of every judgement (Verdict, with its evidence, in the audit
// record and the API) and its summary published at once
// (VerdictSummary, under 1 KB, out on
// canary.verdict.<namespace>.<service>), and the rejection of an event
// that cannot start one (Rejection, out on
// canary.rejected.<namespace>.<service>).
//
// The daemon, canaryctl watch, the demo and the fleet harness all use
// these types, and a consumer in Go can too: the package imports nothing
// under cmd/. For consumers in other languages, schemas/ holds each
// message's JSON Schema, generated from the types (Schema) and held to
// them by TestSchemas.
package message
