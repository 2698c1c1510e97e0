package leakfuzz

// Known differences between Ward and the model, found by this fuzzer and
// reported (issue 4). Each exclusion keeps the generator away from one
// narrow request shape so the default run passes; -leakfuzz.strict sends
// them all and shows the differences. The model itself is not weakened:
// remove an exclusion once Ward agrees with the spec.

// excludeUpdateOfUnreadable: a PUT of another project's resource by a
// caller lacking the type-level update or read grant. Spec 2.7 steps 2-3 /
// 2.10: those shallow checks come first, 403. Ward answers 404: its
// project wall looks foreign ids up first ("foreign resources are 404,
// never 403", internal/wire/isolation_tokens_test.go). Not a leak (404
// says less), but not Medplum's status. In-project PUTs are not excluded.
func (f *fuzzer) excludeUpdateOfUnreadable(c *caller, r *mres) bool {
	return !f.strict && r.project != c.project && (!c.shallow(iUpdate, r.typ) || !c.shallow(iRead, r.typ))
}
