package store

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/index"
)

// The projection of the audit trail. A record is durable once its link
// and its AuditEvent row committed (auditchain.go); its index rows and
// compartments — what search and the access policy's criteria work on —
// are written by one goroutine per AuditLog just behind, in larger
// batches: a response waits for two small inserts, not for some fifteen
// index rows. audit_projected holds, per project, the seq up to which
// every link's rows are written; a projection transaction writes links in
// seq order and moves the mark, so a crash (or a process that died in a
// fleet) leaves links above the mark, and catchUp indexes them from the
// stored AuditEvents.
//
// Reads of AuditEvents wait for this process's projection to catch up
// (awaitTrail), so an auditor's search never misses a record this process
// has acknowledged; another process's records may show up a moment later.

// projectBatch bounds the records one projection transaction writes, so
// the appends queued behind it on SQLite's one writer wait little (64
// records hold it ≈ 15 ms on the benchmark machine).
const projectBatch = 16

// maxQueued bounds the records waiting for projection in memory. Past it
// (a sustained load above what the projection writes), further records
// are only counted: catchUp projects them from the chain, which they are
// durable in already. Each holds its AuditEvent and index rows (≈ 8 KB in
// a heap profile of an ingest): at 100,000 an ingest the projection could
// not keep up with held 180 MB of them, at 2,048 they were half the live
// heap during one, doubled in the peak by the collector's headroom (issue
// 16 item 4). 512 is ≈ 4 MB, still 32 batches of burst.
const maxQueued = 512

// maxHoleFill bounds the links one projection reads back from the chain to
// fill the holes between queued records (those left past maxQueued): the
// hole above a mark that fell far behind once read thousands of decoded
// AuditEvents into one transaction, megabytes of heap and the one SQLite
// writer held for as long. The queued records above it wait for the next
// projection.
const maxHoleFill = 4 * projectBatch

// awaitTrailLimit bounds how long a read of the trail waits for the
// projection (it is then served as projected so far).
const awaitTrailLimit = 2 * time.Second

// projectLinger is how long the projector lets records gather before it
// writes them, unless a batch is full or a reader waits: fewer, larger
// projection transactions take the writer (on SQLite, the one writer the
// appends need) less often.
const projectLinger = 50 * time.Millisecond

// catchUpEvery is how often an idle projector looks for links another
// process left unprojected.
const catchUpEvery = 30 * time.Second

// chained is a record linked into its project's chain.
type chained struct {
	seq int64
	v   *version
}

// projector writes the AuditEvent resources of linked records.
type projector struct {
	s *Store

	mu        sync.Mutex
	queue     []chained
	handed    int64 // records queued so far
	projected int64 // of them, projected (or given up)
	// overflowed: records were left to catchUp (maxQueued); it runs as
	// soon as the queue is empty.
	overflowed bool
	waiters    []trailWaiter
	closing    bool
	wake       chan struct{}
	done       chan struct{}
}

type trailWaiter struct {
	upTo int64
	ch   chan struct{}
}

func newProjector(s *Store) *projector {
	return &projector{s: s, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// hand queues linked records for projection.
func (p *projector) hand(records []chained) {
	p.mu.Lock()
	if len(p.queue) < maxQueued {
		p.queue = append(p.queue, records...)
		p.handed += int64(len(records))
	} else {
		p.overflowed = true
	}
	p.mu.Unlock()
	p.poke()
}

func (p *projector) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// await returns once every record handed before the call is projected,
// or ctx ends, or limit passes.
func (p *projector) await(ctx context.Context, limit time.Duration) {
	p.mu.Lock()
	if p.projected >= p.handed {
		p.mu.Unlock()
		return
	}
	w := trailWaiter{upTo: p.handed, ch: make(chan struct{})}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	p.poke()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-w.ch:
	case <-ctx.Done():
	case <-timer.C:
		p.s.logger.WarnContext(ctx, "store: audit trail read before its projection caught up", "waited", limit)
	}
}

// close projects what is queued in memory and stops. A backlog beyond it
// (records past maxQueued, links another process left) stays to the next
// start's catchUp: the records are durable in the chain already, and a
// server told to stop must not spend minutes indexing them first (seen
// after an ingest on PostgreSQL: 47–248 s past SIGTERM).
func (p *projector) close() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.poke()
	<-p.done
}

func (p *projector) run() {
	defer close(p.done)
	ctx := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
	p.catchUp(ctx)
	tick := time.NewTicker(catchUpEvery)
	defer tick.Stop()
	for {
		if p.queued() {
			p.linger()
		}
		batch, closing := p.take()
		switch {
		case len(batch) > 0:
			p.project(ctx, batch)
		case closing:
			return
		case p.takeOverflow():
			p.catchUp(ctx)
		default:
			select {
			case <-p.wake:
			case <-tick.C:
				p.catchUp(ctx)
			}
		}
	}
}

// takeOverflow reports and clears overflowed.
func (p *projector) takeOverflow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.overflowed
	p.overflowed = false
	return o
}

func (p *projector) queued() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) > 0
}

// linger waits, up to projectLinger, for a full batch, a reader or Close.
func (p *projector) linger() {
	deadline := time.NewTimer(projectLinger)
	defer deadline.Stop()
	for !p.urgent() {
		select {
		case <-p.wake:
		case <-deadline.C:
			return
		}
	}
}

// urgent: a batch is full, a reader waits or the log closes.
func (p *projector) urgent() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) >= projectBatch || len(p.waiters) > 0 || p.closing
}

func (p *projector) take() ([]chained, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := min(len(p.queue), projectBatch)
	batch := p.queue[:n:n]
	p.queue = p.queue[n:]
	if len(p.queue) == 0 {
		p.queue = nil
	}
	return batch, p.closing
}

// project writes batch, retrying a failed transaction a few times; the
// records stay linked (durable) whatever happens here, and a later
// catchUp projects what this could not.
func (p *projector) project(ctx context.Context, batch []chained) {
	byProject := map[string][]chained{}
	for _, c := range batch {
		byProject[c.v.res.ProjectID] = append(byProject[c.v.res.ProjectID], c)
	}
	projects := slices.Sorted(maps.Keys(byProject))
	var err error
	var rest []chained // records above a filled hole, not written yet
	for attempt := range 3 {
		err = p.s.Write(ctx, func(ctx context.Context, rtx ward.ResourceTx) error {
			t := rtx.(*tx)
			if err := t.commitUnflushed(ctx); err != nil {
				return err
			}
			rest = rest[:0]
			for _, project := range projects {
				r, err := t.projectLinks(ctx, project, byProject[project])
				if err != nil {
					return err
				}
				rest = append(rest, r...)
			}
			return nil
		})
		if err == nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	if err != nil {
		p.s.logger.ErrorContext(ctx, "store: audit projection failed; the records are in the chain and will be projected later", "records", len(batch), "error", err)
	}
	p.mu.Lock()
	if err != nil {
		rest = nil // given up on with the rest: catchUp projects them
	} else if len(rest) > 0 {
		p.queue = append(rest, p.queue...)
	}
	p.projected += int64(len(batch) - len(rest))
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		if w.upTo <= p.projected {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	p.waiters = kept
	p.mu.Unlock()
}

// commitUnflushed lets t, a projection transaction, commit on PostgreSQL
// without waiting for its WAL to reach the disk (synchronous_commit off
// for t alone): on the benchmark machine every such flush queued in front
// of the audit append's, which a response waits for. It is safe because
// nothing acknowledged depends on it: the records are durable in the
// chain already (their append commits synchronously), and the mark moves
// in t with the index rows it covers, so a crash that loses t loses both
// and catchUp projects those links again from the chain. WAL is one
// sequence: any later synchronous commit (the next append) flushes t too,
// so a crash loses only a suffix of projections, never one in the middle.
// SQLite: no-op (its projection shares the writer's own durability).
func (t *tx) commitUnflushed(ctx context.Context) error {
	if t.s.dialect.Name() != "postgres" {
		return nil
	}
	_, err := t.sql.ExecContext(ctx, "SET LOCAL synchronous_commit = off")
	return err
}

// catchUp projects the links of every project above its mark, from the
// chain.
func (p *projector) catchUp(ctx context.Context) {
	behind, err := p.s.projectsBehind(ctx)
	if err != nil {
		p.s.logger.ErrorContext(ctx, "store: audit projection catch-up", "error", err)
		return
	}
	for _, project := range behind {
		for {
			var more bool
			err := p.s.Write(ctx, func(ctx context.Context, rtx ward.ResourceTx) error {
				if err := rtx.(*tx).commitUnflushed(ctx); err != nil {
					return err
				}
				var err error
				more, err = rtx.(*tx).projectFromChain(ctx, project)
				return err
			})
			if err != nil {
				p.s.logger.ErrorContext(ctx, "store: audit projection catch-up", "project", project, "error", err)
				break
			}
			if p.isClosing() {
				return
			}
			if !more {
				break
			}
		}
	}
}

func (p *projector) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

// projectsBehind lists the projects with links above their mark.
func (s *Store) projectsBehind(ctx context.Context) ([]string, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT p.project_id FROM audit_projected p
		WHERE p.seq < (SELECT MAX(c.seq) FROM audit_chain c WHERE c.project_id = p.project_id)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// projectFromChain projects up to projectBatch links above project's
// mark; more says links remain.
func (t *tx) projectFromChain(ctx context.Context, project string) (more bool, err error) {
	if err := t.lockAudit(ctx, "auditproj:", project); err != nil {
		return false, err
	}
	mark, err := t.projectedMark(ctx, project)
	if err != nil {
		return false, err
	}
	links, err := t.chainLinks(ctx, project, mark, mark+projectBatch)
	if err != nil || len(links) == 0 {
		return false, err
	}
	_, err = t.projectLinks(ctx, project, links)
	return len(links) == projectBatch, err
}

// projectLinks writes the AuditEvents of records, links of one project,
// that are above its mark, in seq order, reading from the chain any link
// between them that records does not hold (another process's, or one a
// failed projection left), and moves the mark. It reads at most
// maxHoleFill links back and returns the records above them, not written.
func (t *tx) projectLinks(ctx context.Context, project string, records []chained) (rest []chained, err error) {
	if err := t.lockAudit(ctx, "auditproj:", project); err != nil {
		return nil, err
	}
	mark, err := t.projectedMark(ctx, project)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(records, func(a, b chained) int { return int(a.seq - b.seq) })
	records = slices.DeleteFunc(records, func(c chained) bool { return c.seq <= mark })
	if len(records) == 0 {
		return nil, nil
	}
	last := records[len(records)-1].seq
	if int64(len(records)) != last-mark { // holes: fill them from the chain
		if last-mark > maxHoleFill {
			last = mark + maxHoleFill
			rest = slices.DeleteFunc(slices.Clone(records), func(c chained) bool { return c.seq <= last })
		}
		if records, err = t.chainLinks(ctx, project, mark, last); err != nil {
			return nil, err
		}
	}
	if records, err = t.stillStored(ctx, project, records); err != nil {
		return nil, err
	}
	for _, c := range records {
		if err := t.insertIndex(ctx, c.v); err != nil {
			return nil, err
		}
	}
	_, err = t.exec(ctx, "UPDATE audit_projected SET seq = ? WHERE project_id = ?", last, project)
	return rest, err
}

// stillStored drops the records an erasure (expunge.go) removed before
// they were indexed, so no index row outlives its record.
func (t *tx) stillStored(ctx context.Context, project string, records []chained) ([]chained, error) {
	ids := make([]any, len(records))
	for i, c := range records {
		ids[i] = c.v.res.ID
	}
	stored := map[string]bool{}
	for chunk := range slices.Chunk(ids, setRowsArgs/2) {
		cond, args := t.in("id", chunk)
		err := t.eachRow(ctx, "SELECT id FROM resources WHERE project_id = ? AND resource_type = 'AuditEvent' AND "+cond,
			append([]any{project}, args...), func(scan func(...any) error) error {
				var id string
				if err := scan(&id); err != nil {
					return err
				}
				stored[id] = true
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	return slices.DeleteFunc(records, func(c chained) bool { return !stored[c.v.res.ID] }), nil
}

// projectedMark is project's projection mark (0 when it has none yet).
func (t *tx) projectedMark(ctx context.Context, project string) (int64, error) {
	var mark int64
	err := t.q.QueryRowContext(ctx, t.d.Rebind(`SELECT seq FROM audit_projected WHERE project_id = ?`), project).Scan(&mark)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return mark, err
}

// chainLinks reads project's links after seq from, up to to, with their
// AuditEvents decoded and indexed like any stored resource (the slow,
// rare path: this process did not record them).
func (t *tx) chainLinks(ctx context.Context, project string, from, to int64) ([]chained, error) {
	rows, err := t.sql.QueryContext(ctx, t.d.Rebind(`SELECT c.seq, r.content FROM audit_chain c
		JOIN resources r ON r.project_id = c.project_id AND r.resource_type = 'AuditEvent' AND r.id = c.event_id
		WHERE c.project_id = ? AND c.seq > ? AND c.seq <= ? ORDER BY c.seq`), project, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []chained
	for rows.Next() {
		var c chained
		var content string
		if err := rows.Scan(&c.seq, &content); err != nil {
			return nil, err
		}
		if c.v, err = t.s.storedVersion(ctx, project, "AuditEvent", []byte(content)); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// storedVersion is content, a resource as stored in project, with its
// index rows and compartments.
func (s *Store) storedVersion(ctx context.Context, project, typ string, content []byte) (*version, error) {
	d, err := decodeResource(content)
	if err != nil {
		return nil, err
	}
	id, _ := d.tree["id"].(string)
	meta, _ := d.tree["meta"].(map[string]any)
	versionID, _ := meta["versionId"].(string)
	lastUpdated, err := time.Parse(time.RFC3339Nano, fmtString(meta["lastUpdated"]))
	if err != nil || id == "" || versionID == "" {
		return nil, ward.Errorf(ward.EINTERNAL, "store: stored %s without id, versionId or lastUpdated", typ)
	}
	rows, err := s.indexer.Extract(ctx, typ, d.tree)
	if err != nil {
		return nil, err
	}
	refs, uuids := index.Compartments(metaProject(project), typ, id, d.tree, rows)
	res := &ward.Resource{Type: typ, ID: id, VersionID: versionID, ProjectID: project, LastUpdated: lastUpdated, Content: content}
	return &version{res: res, rows: rows, compartments: uuids, compartment: refs}, nil
}

func fmtString(v any) string {
	s, _ := v.(string)
	return s
}
