package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// runRestore is `sqlvault restore --as-files DIR`: it asks a running server
// (through its API) to export a restore chain as .bak/.trn files, downloads
// them into DIR and writes the T-SQL that restores them (restore.sql).
func runRestore(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	dir := fs.String("as-files", "", "directory to write the backup files and restore.sql into (required)")
	server := fs.String("server", envOr("SQLVAULT_URL", "http://127.0.0.1:8080"), "sqlvault's portal/API address (env SQLVAULT_URL)")
	token := fs.String("token", os.Getenv("SQLVAULT_TOKEN"), "API token of an operator (env SQLVAULT_TOKEN)")
	item := fs.Int64("item", 0, "backup item id (required)")
	point := fs.Int64("recovery-point", 0, "recovery point id")
	at := fs.String("point-in-time", "", "a second to restore to, RFC 3339 (e.g. 2026-12-01T10:15:42Z)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *item == 0 || *token == "" || (*point == 0) == (*at == "") {
		return errors.New("usage: sqlvault restore --as-files DIR --item ID (--recovery-point ID | --point-in-time TIME) --token TOKEN [--server URL]")
	}
	api := &apiClient{base: strings.TrimRight(*server, "/") + "/api/v1", token: *token}
	req := map[string]any{"item_id": *item, "target": map[string]any{"mode": "files"}}
	if *point != 0 {
		req["recovery_point_id"] = *point
	} else {
		req["point_in_time"] = *at
	}
	var job struct {
		ID int64 `json:"job_id"` // POST /restores answers 202 {"job_id": N}
	}
	if err := api.do(ctx, http.MethodPost, "/restores", req, &job); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restore job %d queued\n", job.ID)
	if err := api.wait(ctx, job.ID); err != nil {
		return err
	}
	var files struct {
		Files []struct {
			N    int    `json:"n"`
			Name string `json:"name"`
			Size int64  `json:"size_bytes"`
		} `json:"files"`
		Script string `json:"script"`
	}
	if err := api.do(ctx, http.MethodGet, fmt.Sprintf("/jobs/%d/files", job.ID), nil, &files); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	for _, f := range files.Files {
		path := filepath.Join(*dir, filepath.Base(f.Name))
		if err := api.download(ctx, fmt.Sprintf("/jobs/%d/files/%d", job.ID, f.N), path, f.Size); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %s (%d bytes)\n", path, f.Size)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	script := filepath.Join(*dir, "restore.sql")
	text := strings.ReplaceAll(files.Script, coordinator.FilesDir, abs+string(filepath.Separator))
	if err := os.WriteFile(script, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  %s: run it on the SQL Server host after copying the files there\n", script)
	return nil
}

type apiClient struct {
	base, token string
	http        http.Client
}

// do sends a JSON request and decodes the answer, or the API's error.
func (a *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct{ Code, Message, Action string }
		json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %s %s: %s (%s)", method, path, resp.Status, e.Code, e.Message, e.Action)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// wait polls a job until it ends, printing its progress.
func (a *apiClient) wait(ctx context.Context, id int64) error {
	for {
		var j struct {
			Status  string `json:"status"`
			Percent int    `json:"progress_percent"`
			Error   *struct{ Code, Message, Action string }
		}
		if err := a.do(ctx, http.MethodGet, fmt.Sprintf("/jobs/%d", id), nil, &j); err != nil {
			return err
		}
		switch j.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			if j.Error != nil {
				return fmt.Errorf("job %d %s: %s: %s (%s)", id, j.Status, j.Error.Code, j.Error.Message, j.Error.Action)
			}
			return fmt.Errorf("job %d %s", id, j.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// download streams one file to path and checks its size.
func (a *apiClient) download(ctx context.Context, path, dest string, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download %s: %s", path, resp.Status)
	}
	tmp := dest + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("download %s: got %d bytes, want %d", path, n, size)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dest)
}
