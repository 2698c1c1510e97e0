// Package leakfuzz is a randomized leak fuzzer for Ward's access policies
// (issue 4, point 7). Its test builds a random world through the HTTP API —
// a project of clinics, consents, AccessPolicies of every supported rule
// kind, members with real bearer tokens, patients and their compartment
// resources, plus a second project as a hard wall — then sends thousands of
// random requests (read, vread, history, search, create, update, delete,
// batch) and compares every answer with an independent in-test model of who
// may see and change what (spec sections 2 and 3); at the end every caller
// bulk-exports each clinical type (the file must hold what the model lets
// it search, a type it may not search is 403, no one else downloads it).
//
// The model (model_test.go) is deliberately plain Go over in-memory
// resources: it computes accounts and compartments itself and evaluates
// each rule kind directly. It must not import Ward's search, access or
// store packages: an oracle that shares the code under test shares its
// bugs. Differences are reported as LEAK (shown or allowed but forbidden),
// MISS (forbidden-looking answer for something allowed) or DIFF (wrong
// status or stored state), each with the seed and the request.
//
// Known differences from the spec are kept out of the default run by
// named exclusions (exclusions_test.go), each a narrow request shape;
// -leakfuzz.strict sends those too. Every finding names the seed, the step,
// the caller (its policy is listed), the request, and the model's and
// Ward's view of the resources involved, so a seed replays exactly.
//
// Run long: go test ./internal/leakfuzz/ -leakfuzz.seed=7 -leakfuzz.n=20000
// (LEAKFUZZ_DUMP=1 logs every finding, not just the first 40).
package leakfuzz
