package store

import "time"

// GroupQueued is how many writes wait in s's group commit queue.
func GroupQueued(s *Store) int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.queue)
}

// GroupCommits is how many groups s committed.
func GroupCommits(s *Store) int64 { return s.group.commits.Load() }

// SetGroupRun sets how long a group takes members for (tests that count
// groups set it long, so a slow machine does not split them).
func SetGroupRun(s *Store, d time.Duration) { s.group.maxRun = d }

// GroupLeading reports that a write is running s's groups.
func GroupLeading(s *Store) bool {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return s.group.leading
}
