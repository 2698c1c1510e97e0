// Command ward is the Ward FHIR server.
//
//	ward serve     run the server (default)
//	ward reindex   re-extract every search index row
//	ward gendata   load synthetic Patients and Observations through the API
//	ward load      run a load generator against a server
//	ward rotate-key  store a new signing key and retire the current one
//	ward audit verify  check the audit trails' hash chains (exit 1 when broken)
//	ward backup -out FILE  write a consistent copy of the SQLite database while serving
//
// Configuration comes from flags, each with an environment variable
// (WARD_…) as its default. main only wires packages together.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ward:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args)
	case "reindex":
		return reindex(ctx, args)
	case "gendata":
		return gendata(ctx, args)
	case "load":
		return load(ctx, args)
	case "rotate-key":
		return rotateKey(ctx, args)
	case "audit":
		return audit(ctx, args)
	case "backup":
		return backup(ctx, args)
	case "project":
		return projectCommand(ctx, args)
	case "usage":
		return usage(ctx, args)
	case "help", "-h", "--help":
		fmt.Println("usage: ward [serve|reindex|gendata|load|rotate-key|audit verify|backup -out FILE|project export|import|key|usage] [flags]; ward <command> -h for flags")
		return nil
	}
	return fmt.Errorf("unknown command %q (want serve, reindex, gendata, load, rotate-key, audit, backup, project or usage)", cmd)
}
