package leakfuzz

// Known differences between Ward and the model, found by this fuzzer and
// reported (issue 4). Each exclusion is a method of fuzzer that keeps the
// generator away from one narrow request shape so the default run passes;
// -leakfuzz.strict sends them all and shows the differences. The model
// itself is not weakened: remove an exclusion once Ward agrees with the
// spec.
//
// None is open at present. The earlier ones (history/vread without read,
// 410 for a deleted unreadable resource, write answers redacted with the
// writing entry's hiddenFields) are fixed in the store. The foreign-project
// PUT answered 404 where spec 2.7 says 403 is intended (issue 3: another
// project's resource is always 404), so the model expects it: see
// expectUpdate.
