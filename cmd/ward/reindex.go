package main

import (
	"context"
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"

	"github.com/wardhealth/ward"
)

// reindex re-extracts every resource's search index rows, showing progress.
func reindex(ctx context.Context, args []string) error {
	s, _, err := openForCommand(ctx, "reindex", args)
	if err != nil {
		return err
	}
	defer s.Close()
	var bar *progressbar.ProgressBar
	err = s.Reindex(ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal()), func(done, total int) {
		if bar == nil {
			bar = progressbar.Default(int64(total), "reindexing")
		}
		bar.Set(done)
	})
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "reindex complete")
	return nil
}
