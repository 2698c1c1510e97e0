// Package mock holds function-field mocks of Ward's service interfaces for
// tests: each method calls the field of the same name plus "Fn", so a test
// sets only the behaviour it exercises.
//
// Besides them it holds two recorders that only keep what they are given
// (AuditRecorder, SyncBuffer). It must not contain behaviour of its own
// beyond that: a test that needs a working store builds it from these
// fields (or uses package store).
package mock
