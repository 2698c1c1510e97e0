package definitions

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// markerID is the Basic resource in the R4 project recording what Load
// has written. Basic is not a definition type, so no other project sees it.
var markerID = StableID("Basic", "urn:ward:definitions-marker")

const markerSystem = "urn:ward:definitions"

// marker is the load state: the version being (or last) loaded, how many
// of its resources are written, and the version it replaces while a
// replacement is under way (so a resumed replacement still deletes what the
// old version had and the new one has not).
type marker struct {
	Version     string
	Done, Total int
	Previous    string
}

// complete reports that every resource of version v is written.
func (m marker) complete(v string) bool {
	return m.Version == v && m.Total > 0 && m.Done >= m.Total
}

// previous is the version a load of v replaces.
func (m marker) previous(v string) string {
	if m.Version != v {
		return m.Version
	}
	return m.Previous
}

type basic struct {
	ResourceType string           `json:"resourceType"`
	ID           string           `json:"id"`
	Meta         map[string]any   `json:"meta,omitempty"`
	Code         codeableConcept  `json:"code"`
	Identifier   []basicIdentifer `json:"identifier"`
}

type codeableConcept struct {
	Text string `json:"text"`
}

type basicIdentifer struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

func readMarker(ctx context.Context, s *store.Store) (marker, error) {
	res, err := s.Read(ctx, "Basic", markerID)
	switch ward.ErrorCode(err) {
	case ward.ENOTFOUND, ward.EGONE:
		return marker{}, nil
	case "":
	default:
		return marker{}, err
	}
	var b basic
	if err := json.Unmarshal(res.Content, &b); err != nil {
		return marker{}, err
	}
	var m marker
	for _, id := range b.Identifier {
		switch id.System {
		case markerSystem + "/version":
			m.Version = id.Value
		case markerSystem + "/done":
			m.Done, _ = strconv.Atoi(id.Value)
		case markerSystem + "/total":
			m.Total, _ = strconv.Atoi(id.Value)
		case markerSystem + "/previous":
			m.Previous = id.Value
		}
	}
	return m, nil
}

func writeMarker(ctx context.Context, tx ward.ResourceTx, m marker) error {
	b := basic{
		ResourceType: "Basic", ID: markerID,
		Meta: map[string]any{"project": ward.R4ProjectID},
		Code: codeableConcept{Text: "Ward FHIR R4 definitions load state"},
		Identifier: []basicIdentifer{
			{System: markerSystem + "/version", Value: m.Version},
			{System: markerSystem + "/done", Value: strconv.Itoa(m.Done)},
			{System: markerSystem + "/total", Value: strconv.Itoa(m.Total)},
		},
	}
	if m.Previous != "" {
		b.Identifier = append(b.Identifier, basicIdentifer{System: markerSystem + "/previous", Value: m.Previous})
	}
	content, err := json.Marshal(b)
	if err != nil {
		return err
	}
	_, _, err = tx.Update(ctx, "Basic", markerID, content, "")
	return err
}
