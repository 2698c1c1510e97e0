package fairshare

import (
	"context"
	"encoding/json"

	"github.com/wardhealth/ward"
)

// projectSettings is what Load reads of a Project.
type projectSettings struct {
	SystemSetting []struct {
		Name         string `json:"name"`
		ValueInteger int    `json:"valueInteger"`
	} `json:"systemSetting"`
}

// ProjectLimits returns an Options.Load that reads a project's overrides
// from its Project resource's systemSetting (RateLimitSetting,
// ConcurrencySetting) through r as the system principal, reading in that
// project only. A project without a Project resource (the server's own)
// has none.
func ProjectLimits(r ward.ResourceReader) func(ctx context.Context, projectID string) (Limits, error) {
	return func(ctx context.Context, projectID string) (Limits, error) {
		// A Project's row lives in its own project: one shard on Citus.
		res, err := r.Read(ward.NewContextWithPrincipal(ctx, ward.SystemPrincipalIn(projectID)), "Project", projectID)
		switch ward.ErrorCode(err) {
		case "":
		case ward.ENOTFOUND, ward.EGONE:
			return Limits{}, nil
		default:
			return Limits{}, err
		}
		var p projectSettings
		if err := json.Unmarshal(res.Content, &p); err != nil {
			return Limits{}, err
		}
		var l Limits
		for _, st := range p.SystemSetting {
			switch st.Name {
			case RateLimitSetting:
				l.RequestsPerMinute = st.ValueInteger
			case ConcurrencySetting:
				l.Concurrent = st.ValueInteger
			}
		}
		return l, nil
	}
}
