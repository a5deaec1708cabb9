package handlers

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/engine/policy"
)

// policyJSON is a policy as the API shows it: the policy itself, how many
// protected items use it, its schedule in words and its RPO.
type policyJSON struct {
	policy.Policy
	Items      int    `json:"items"`
	Schedule   string `json:"schedule"`
	RPOSeconds int64  `json:"rpo_seconds"`
}

// readOnlyPolicyFields are the fields of policyJSON that POST and PUT
// accept and ignore, so that what GET answers can be sent back as is.
var readOnlyPolicyFields = []string{"items", "schedule", "rpo_seconds"}

func toPolicyJSON(p policy.Policy, items int) policyJSON {
	return policyJSON{Policy: p, Items: items, Schedule: p.Describe(), RPOSeconds: int64(p.RPO().Seconds())}
}

// ListPoliciesAPI lists every policy.
func (h *Handlers) ListPoliciesAPI(c echo.Context) error {
	ps, err := h.Coord.Policies(c.Request().Context())
	if err != nil {
		return apiErr(c, err)
	}
	out := make([]policyJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, toPolicyJSON(p.Policy, p.Items))
	}
	return c.JSON(http.StatusOK, map[string]any{"policies": out})
}

func (h *Handlers) policyJSON(c echo.Context, id int64) (policyJSON, error) {
	ctx := c.Request().Context()
	p, err := h.Coord.Policy(ctx, id)
	if err != nil {
		return policyJSON{}, err
	}
	ps, err := h.Coord.Policies(ctx)
	if err != nil {
		return policyJSON{}, err
	}
	for _, info := range ps {
		if info.ID == id {
			return toPolicyJSON(info.Policy, info.Items), nil
		}
	}
	return toPolicyJSON(p, 0), nil
}

// GetPolicyAPI returns one policy.
func (h *Handlers) GetPolicyAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	out, err := h.policyJSON(c, id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, out)
}

// CreatePolicyAPI validates and stores a policy; every rule that fails is
// listed in the error's fields.
func (h *Handlers) CreatePolicyAPI(c echo.Context) error {
	var b policy.Policy
	if err := decodeIgnoring(c, &b, readOnlyPolicyFields...); err != nil {
		return apiErr(c, err)
	}
	b.ID = 0 // assigned here; a copied policy's id is ignored
	p, err := h.Coord.CreatePolicy(c.Request().Context(), b)
	if err != nil {
		return apiErr(c, err)
	}
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/api/v1/policies/%d", p.ID))
	return c.JSON(http.StatusCreated, toPolicyJSON(p, 0))
}

// UpdatePolicyAPI replaces a policy; its items follow the new schedule at
// once.
func (h *Handlers) UpdatePolicyAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	var b policy.Policy
	if err := decodeIgnoring(c, &b, readOnlyPolicyFields...); err != nil {
		return apiErr(c, err)
	}
	if b.ID != 0 && b.ID != id {
		return apiErr(c, invalidField("id", "the body is policy %d but the path names policy %d", b.ID, id))
	}
	if _, err := h.Coord.UpdatePolicy(c.Request().Context(), id, b); err != nil {
		return apiErr(c, err)
	}
	out, err := h.policyJSON(c, id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, out)
}

// DeletePolicyAPI deletes a policy that protects no database.
func (h *Handlers) DeletePolicyAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	if err := h.Coord.DeletePolicy(c.Request().Context(), id); err != nil {
		return apiErr(c, err) // 409 UserErrorPolicyInUse while it protects items
	}
	return c.NoContent(http.StatusNoContent)
}
