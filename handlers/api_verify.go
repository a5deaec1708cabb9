package handlers

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// verifyBody is POST /recovery-points/{id}/verify and /items/{id}/verify.
type verifyBody struct {
	ServerID    int64      `json:"server_id"`
	Level       string     `json:"level"`
	Keep        bool       `json:"keep"`
	PointInTime *time.Time `json:"point_in_time"`     // items only
	PointID     int64      `json:"recovery_point_id"` // items only
}

func (b verifyBody) request() coordinator.VerifyRequest {
	return coordinator.VerifyRequest{ServerID: b.ServerID, Level: b.Level, Keep: b.Keep, PointInTime: b.PointInTime, PointID: b.PointID}
}

// VerifyPointAPI queues the verification of a recovery point: 202 {job_id}.
func (h *Handlers) VerifyPointAPI(c echo.Context) error {
	return h.queueVerify(c, h.Coord.VerifyPoint)
}

// VerifyItemAPI queues the verification of an item's newest point (with
// its chain), of a point, or of a second in its log chain: 202 {job_id}.
func (h *Handlers) VerifyItemAPI(c echo.Context) error {
	return h.queueVerify(c, h.Coord.VerifyItem)
}

// queueVerify reads the path's id and the body and queues with verify.
func (h *Handlers) queueVerify(c echo.Context, verify func(context.Context, int64, coordinator.VerifyRequest) (int64, error)) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	var b verifyBody
	if err := decodeBody(c, &b, false); err != nil {
		return apiErr(c, err)
	}
	jobID, err := verify(c.Request().Context(), id, b.request())
	if err != nil {
		return apiErr(c, err)
	}
	return jobAccepted(c, jobID)
}

// verificationView is a point's newest verification in the API.
type verificationView struct {
	Status          string         `json:"status"` // clean or failed
	At              time.Time      `json:"at"`
	Level           string         `json:"level"`
	CheckDBMessages []string       `json:"checkdb_messages"`
	Tables          []db.TableRows `json:"tables"`
	Rows            int64          `json:"rows"`
	JobID           *int64         `json:"job_id"`
	ServerID        *int64         `json:"server_id"`
	DatabaseName    string         `json:"database_name"`
	PointInTime     *time.Time     `json:"point_in_time,omitempty"`
	DurationMS      int64          `json:"duration_ms"`
}

// pointView is a recovery point with its newest verification (null when
// never verified).
type pointView struct {
	db.Point
	Verification *verificationView `json:"verification"`
}

func viewOfVerification(v db.Verification) *verificationView {
	msgs, tables := v.CheckDBMessages, v.Tables
	if msgs == nil {
		msgs = []string{}
	}
	if tables == nil {
		tables = []db.TableRows{}
	}
	return &verificationView{Status: v.Status, At: v.At, Level: v.Level, CheckDBMessages: msgs, Tables: tables, Rows: v.Rows,
		JobID: v.JobID, ServerID: v.ServerID, DatabaseName: v.DatabaseName, PointInTime: v.PointInTime, DurationMS: v.DurationMS}
}

// withVerifications pairs each point with its newest verification.
func (h *Handlers) withVerifications(ctx context.Context, itemID int64, points []db.Point) ([]pointView, error) {
	vs, err := h.DB.LatestVerifications(ctx, itemID)
	if err != nil {
		return nil, err
	}
	out := make([]pointView, len(points))
	for i, p := range points {
		out[i].Point = p
		if v, ok := vs[p.ID]; ok {
			out[i].Verification = viewOfVerification(v)
		}
	}
	return out, nil
}
