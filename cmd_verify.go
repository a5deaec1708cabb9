package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// runVerify is `sqlvault verify --item ID [--point-in-time T]`: it asks a
// running server (through its API) to verify the item's newest point, or
// a second of its log chain, waits for the job and prints the outcome; a
// failed verification is a non-zero exit, for scripts.
func runVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	server := fs.String("server", envOr("SQLVAULT_URL", "http://127.0.0.1:8080"), "sqlvault's portal/API address (env SQLVAULT_URL)")
	token := fs.String("token", os.Getenv("SQLVAULT_TOKEN"), "API token of an operator (env SQLVAULT_TOKEN)")
	item := fs.Int64("item", 0, "backup item id (required)")
	at := fs.String("point-in-time", "", "a second of the log chain to verify, RFC 3339 (default: the newest point)")
	instance := fs.Int64("instance", 0, "server id of the verification instance (default: the policy's)")
	level := fs.String("level", "", "checkdb (default), physical_only or verifyonly")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *item == 0 || *token == "" {
		return errors.New("usage: sqlvault verify --item ID [--point-in-time TIME] [--instance SERVER_ID] [--level L] --token TOKEN [--server URL]")
	}
	api := &apiClient{base: strings.TrimRight(*server, "/") + "/api/v1", token: *token}
	req := map[string]any{"server_id": *instance, "level": *level}
	if *at != "" {
		req["point_in_time"] = *at
	}
	var job struct {
		ID int64 `json:"job_id"`
	}
	if err := api.do(ctx, http.MethodPost, fmt.Sprintf("/items/%d/verify", *item), req, &job); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "verify job %d queued\n", job.ID)
	if err := api.wait(ctx, job.ID); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "verification job %d completed: clean\n", job.ID)
	return nil
}
