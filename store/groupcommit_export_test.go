package store

// GroupQueued is how many writes wait in s's group commit queue.
func GroupQueued(s *Store) int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.queue)
}

// GroupCommits is how many groups s committed.
func GroupCommits(s *Store) int64 { return s.group.commits.Load() }
