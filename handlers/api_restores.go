package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// restoreBody is POST /restores; point_in_time is parsed here so a bad
// one is named.
type restoreBody struct {
	ItemID          int64                     `json:"item_id"`
	RecoveryPointID int64                     `json:"recovery_point_id"`
	PointInTime     *string                   `json:"point_in_time"`
	Target          coordinator.RestoreTarget `json:"target"`
	Items           []coordinator.RestoreItem `json:"items"`
}

// request checks the body's own shape and makes it the coordinator's.
func (b restoreBody) request() (coordinator.RestoreRequest, error) {
	r := coordinator.RestoreRequest{ItemID: b.ItemID, RecoveryPointID: b.RecoveryPointID, Target: b.Target, Items: b.Items}
	if b.PointInTime != nil {
		at, err := parseTime("point_in_time", *b.PointInTime)
		if err != nil {
			return r, err
		}
		r.PointInTime = at
	}
	switch {
	case r.ItemID <= 0 && len(r.Items) == 0:
		return r, invalidField("item_id", "choose the backup item to restore")
	case r.RecoveryPointID < 0:
		return r, invalidField("recovery_point_id", "must be a recovery point id")
	case r.RecoveryPointID != 0 && r.PointInTime != nil:
		return r, invalidField("point_in_time", "give recovery_point_id or point_in_time, not both")
	case r.Target.Mode == "":
		return r, invalidField("target.mode", "choose original, alternate or files")
	}
	return r, nil
}

// RestoreAPI checks a restore request against the planner and queues it.
func (h *Handlers) RestoreAPI(c echo.Context) error {
	var b restoreBody
	if err := decodeBody(c, &b, false); err != nil {
		return apiErr(c, err)
	}
	r, err := b.request()
	if err != nil {
		return apiErr(c, err)
	}
	jobID, err := h.Coord.Restore(c.Request().Context(), r)
	if err != nil {
		return apiErr(c, err)
	}
	return jobAccepted(c, jobID)
}

// ProposedFilesAPI lists the files the restore in the body would write,
// each with the path it gets (the target's default folders for a new
// database, the user's files entries over them); nothing is queued.
func (h *Handlers) ProposedFilesAPI(c echo.Context) error {
	var b restoreBody
	if err := decodeBody(c, &b, false); err != nil {
		return apiErr(c, err)
	}
	r, err := b.request()
	if err == nil && len(r.Items) > 0 {
		err = invalidField("items", "propose the files of one database at a time")
	}
	if err != nil {
		return apiErr(c, err)
	}
	files, err := h.Coord.ProposeFiles(c.Request().Context(), r)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, map[string]any{"files": files})
}

// CancelJobAPI cancels a queued or running job; a running one ends as
// cancelled once its current statement stops.
func (h *Handlers) CancelJobAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	ctx := c.Request().Context()
	if _, err := h.DB.JobByID(ctx, id); err != nil {
		return apiErr(c, notFound(err, "job %d does not exist", id))
	}
	if err := h.Coord.Cancel(ctx, id); err != nil {
		return apiErr(c, err)
	}
	j, err := h.DB.JobByID(ctx, id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusAccepted, toJobJSON(j))
}

// restoreFileJSON is one .bak/.trn file of a files-mode restore.
type restoreFileJSON struct {
	N int `json:"n"`
	coordinator.RestoreFile
	URL string `json:"url"`
}

// JobFilesAPI lists the files a completed files-mode restore exported,
// with the T-SQL script that restores them from a folder.
func (h *Handlers) JobFilesAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	res, err := h.Coord.RestoreFiles(c.Request().Context(), id)
	if err != nil {
		return apiErr(c, err)
	}
	files := make([]restoreFileJSON, 0, len(res.Files))
	for i, f := range res.Files {
		files = append(files, restoreFileJSON{N: i, RestoreFile: f, URL: fmt.Sprintf("/api/v1/jobs/%d/files/%d", id, i)})
	}
	return c.JSON(http.StatusOK, map[string]any{"job_id": id, "files": files, "script": res.Script})
}

// JobFileAPI streams the n-th file of a files-mode restore; Range
// requests resume a download.
func (h *Handlers) JobFileAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	n, err := pathInt(c, "n")
	if err != nil {
		return apiErr(c, err)
	}
	ctx := c.Request().Context()
	j, err := h.DB.JobByID(ctx, id)
	if err != nil {
		return apiErr(c, notFound(err, "job %d does not exist", id))
	}
	f, rs, err := h.Coord.OpenFile(ctx, id, int(n))
	if err != nil {
		return apiErr(c, err)
	}
	var mod time.Time
	if j.EndedAt != nil {
		mod = *j.EndedAt
	}
	w := c.Response()
	// A large file outlasts the server's write timeout; this response has
	// none.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set(echo.HeaderContentType, "application/octet-stream")
	w.Header().Set("ETag", strconv.Quote(fmt.Sprintf("job%d-file%d-%d", id, n, f.Size)))
	attachment(c, fileName(f.Name))
	http.ServeContent(w, c.Request(), f.Name, mod, rs)
	return nil
}
