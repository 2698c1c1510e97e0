package terminology

import (
	"sync"

	"github.com/wardhealth/ward"
)

// parsedCache keeps parsed CodeSystems by project, id and version: a
// stored version never changes, so parsing it again (milliseconds for the
// large v3 systems) is waste. It never decides visibility: a CodeSystem is
// looked up here only after the caller's own search returned that version.
type parsedCache struct {
	mu      sync.Mutex
	entries map[string]*codeSystem
	order   []string // insertion order, for eviction
	max     int
}

func newParsedCache(max int) *parsedCache {
	return &parsedCache{entries: map[string]*codeSystem{}, max: max}
}

func (c *parsedCache) parse(res *ward.Resource) (*codeSystem, error) {
	if c == nil {
		return parseCodeSystem(res.Content)
	}
	key := res.ProjectID + "/" + res.ID + "/" + res.VersionID
	c.mu.Lock()
	cs, ok := c.entries[key]
	c.mu.Unlock()
	if ok {
		return cs, nil
	}
	cs, err := parseCodeSystem(res.Content)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok {
		if len(c.order) >= c.max {
			delete(c.entries, c.order[0])
			c.order = c.order[1:]
		}
		c.entries[key] = cs
		c.order = append(c.order, key)
	}
	return cs, nil
}
