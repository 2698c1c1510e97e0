package store

import "context"

// EverythingSQL returns the page query PatientEverything runs for the
// caller in ctx (all types, no filters), for plan checks.
func (s *Store) EverythingSQL(ctx context.Context, patientID string, count int) (string, []any, error) {
	p, err := principal(ctx)
	if err != nil {
		return "", nil, err
	}
	types, err := everythingTypes(p, nil)
	if err != nil {
		return "", nil, err
	}
	patient, err := s.readerOf().Read(ctx, "Patient", patientID)
	if err != nil {
		return "", nil, err
	}
	q, args, err := everythingPage(p, patient, types, nil, count+1, 0)
	return s.dialect.Rebind(q), args, err
}
