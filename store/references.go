package store

import (
	"context"

	"github.com/wardhealth/ward"
)

func (t *tx) checkReferences(ctx context.Context, p *ward.Principal, typ string, d *decodedResource) error {
	return nil
}
