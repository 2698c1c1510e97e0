package leakfuzz

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Bulk export against the model: an export is the caller's searches, so
// each file must hold exactly what the model lets the caller search.

// checkExports: every caller exports each clinical type once, with a random
// _typeFilter the model evaluates. A type it may not search is 403 at
// kick-off; otherwise the file holds exactly the resources the model finds
// (hidden fields absent, as in a search), and no other caller — of the
// same project or the other one — downloads it (404).
func (f *fuzzer) checkExports() {
	files := map[*caller][]string{}
	for _, c := range f.callers {
		for _, typ := range clinicalTypes {
			q, filters := f.randomQuery(c, typ)
			path := "$export?_type=" + typ
			if len(q) > 0 {
				path += "&_typeFilter=" + url.QueryEscape(typ+"?"+q.Encode())
			}
			req := "POST " + path
			want := 202
			if !c.shallow(iSearch, typ) {
				want = 403
			}
			a := c.do("POST", path, "", "Prefer", "respond-async")
			if !f.compareStatus(c, req, want, a.status) || a.status != 202 {
				continue
			}
			f.stats["export"]++
			var expect []*mres
			for _, r := range f.m.searchable(&c.mcaller, typ) {
				if matchAll(filters, r) {
					expect = append(expect, r)
				}
			}
			fileURL, ok := f.awaitExport(c, req, a, typ)
			if !ok {
				continue
			}
			var got []string
			if fileURL != "" {
				files[c] = append(files[c], fileURL)
				got = f.exportedRefs(c, req, fileURL)
			}
			f.stats["export resources"] += len(got)
			f.compareSet(c, req, "match", refs(expect), got)
		}
	}
	for owner, urls := range files {
		for _, c := range f.callers {
			if c == owner {
				continue
			}
			for _, u := range urls {
				req := "GET " + u + " (" + owner.name + "'s export)"
				f.compareStatus(c, req, 404, c.do("GET", u, "").status)
			}
		}
	}
}

// awaitExport polls the status URL the kick-off named until the manifest
// and returns the URL of typ's file ("" when the export holds none).
func (f *fuzzer) awaitExport(c *caller, req string, kickoff answer, typ string) (string, bool) {
	issues, _ := kickoff.body["issue"].([]any)
	var status string
	if len(issues) > 0 {
		status, _ = issues[0].(map[string]any)["diagnostics"].(string)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		a := c.do("GET", status, "")
		if a.status == 200 {
			outputs, _ := a.body["output"].([]any)
			for _, o := range outputs {
				om, _ := o.(map[string]any)
				if om["type"] == typ {
					u, _ := om["url"].(string)
					return u, true
				}
			}
			return "", true
		}
		if a.status != 202 || time.Now().After(deadline) {
			f.report(diff, c, req, "export status %s: %d %.300s", status, a.status, a.raw)
			return "", false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exportedRefs downloads an export file as c: the references it holds,
// each resource checked as a search match is (hidden fields, meta).
func (f *fuzzer) exportedRefs(c *caller, req, fileURL string) []string {
	a := c.do("GET", fileURL, "")
	if a.status != 200 {
		f.report(diff, c, req, "download %s: %d %.300s", fileURL, a.status, a.raw)
		return nil
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(a.raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var res map[string]any
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			f.report(diff, c, req, "line %.200q: %v", sc.Text(), err)
			continue
		}
		ref := fmt.Sprint(res["resourceType"], "/", res["id"])
		out = append(out, ref)
		if r := f.m.res[ref]; r != nil && c.can(iRead, r) {
			f.checkShown(c, req, r, res)
		}
	}
	return out
}
