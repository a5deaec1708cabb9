package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/templates"
)

// Policies lists backup policies.
func (h *Handlers) Policies(c echo.Context) error {
	return h.policiesPage(c, nil)
}

func (h *Handlers) policiesPage(c echo.Context, problem error) error {
	pols, err := h.Coord.Policies(c.Request().Context())
	if err != nil {
		return err
	}
	d := templates.PoliciesData{Policies: pols, Problem: templates.ProblemOf(problem)}
	if engine.CodeOf(problem) == engine.CodePolicyInUse {
		d.InUse, _ = pathID(c) // the way out: Modify policy of its items
	}
	pushURL(c, "/policies")
	return render(c, statusFor(problem), templates.Policies(h.page(c, "Policies", "policies"), d))
}

// policyFromForm reads the policy form; a number that is not one is
// reported as a field error.
func policyFromForm(c echo.Context) (policy.Policy, templates.FieldErrs) {
	errs := templates.FieldErrs{}
	num := func(name string) int {
		s := strings.TrimSpace(c.FormValue(name))
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			errs[name] = "enter a whole number"
		}
		return n
	}
	form, _ := c.FormParams()
	p := policy.Policy{
		Name: strings.TrimSpace(c.FormValue("name")),
		Full: policy.FullSchedule{Frequency: c.FormValue("full.frequency"), Time: strings.TrimSpace(c.FormValue("full.time")),
			Timezone: strings.TrimSpace(c.FormValue("full.timezone"))},
		Differential: policy.DiffSchedule{Enabled: formBool(c, "differential.enabled"), Time: strings.TrimSpace(c.FormValue("differential.time"))},
		Log:          policy.LogSchedule{Enabled: formBool(c, "log.enabled"), EveryMinutes: num("log.every_minutes")},
		Retention: policy.Retention{DailyDays: num("retention.daily_days"), WeeklyWeeks: num("retention.weekly_weeks"),
			MonthlyMonths: num("retention.monthly_months"), YearlyYears: num("retention.yearly_years"),
			DifferentialDays: num("retention.differential_days"), LogDays: num("retention.log_days")},
		SQLCompression: formBool(c, "sql_compression"),
	}
	heal := formBool(c, "auto_heal")
	p.AutoHeal = &heal
	p.Verify = verifyFromForm(c, num)
	if p.Full.Frequency == "weekly" {
		p.Full.Days = form["full.days"]
	}
	if p.Differential.Enabled {
		p.Differential.Days = form["differential.days"]
	}
	return p, errs
}

func fieldErrs(err error, into templates.FieldErrs) templates.FieldErrs {
	if into == nil {
		into = templates.FieldErrs{}
	}
	for _, fe := range policy.Fields(err) {
		if into[fe.Field] == "" {
			into[fe.Field] = fe.Message
		} else {
			into[fe.Field] += "; " + fe.Message
		}
	}
	return into
}

// NewPolicy shows an empty policy form with sensible defaults.
func (h *Handlers) NewPolicy(c echo.Context) error {
	p := policy.Policy{Log: policy.LogSchedule{Enabled: true}}
	p.Defaults()
	return render(c, http.StatusOK, templates.PolicyForm(h.page(c, "New policy", "policies"), h.withServers(c, templates.PolicyFormData{P: p})))
}

// EditPolicy shows a policy's form.
func (h *Handlers) EditPolicy(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	p, err := h.Coord.Policy(c.Request().Context(), id)
	if err != nil {
		return h.NotFound(c)
	}
	return render(c, http.StatusOK, templates.PolicyForm(h.page(c, "Edit policy", "policies"), h.withServers(c, templates.PolicyFormData{ID: id, P: p})))
}

// SavePolicy creates (no id) or updates a policy; validation messages are
// shown next to the fields at fault.
func (h *Handlers) SavePolicy(c echo.Context) error {
	var id int64
	if c.Param("id") != "" {
		var err error
		if id, err = pathID(c); err != nil {
			return h.NotFound(c)
		}
	}
	p, errs := policyFromForm(c)
	var err error
	if len(errs) > 0 {
		err = engine.Errorf(engine.CodePolicyInvalid, "some fields are not numbers")
	} else if id == 0 {
		_, err = h.Coord.CreatePolicy(c.Request().Context(), p)
	} else {
		_, err = h.Coord.UpdatePolicy(c.Request().Context(), id, p)
	}
	if err == nil {
		msg := "Policy " + p.Name + " created."
		if id != 0 {
			msg = "Policy " + p.Name + " saved."
		}
		return h.seeOtherFlash(c, "/policies", msg)
	}
	if engine.CodeOf(err) == engine.CodeApprovalNeeded {
		return h.afterPortalChange(c, "policy.update", p, err, "")
	}
	d := h.withServers(c, templates.PolicyFormData{ID: id, P: p, Errors: fieldErrs(err, errs)})
	if len(d.Errors) == 0 {
		d.Problem = templates.ProblemOf(err)
	} else {
		d.Problem = &templates.Problem{Code: string(engine.CodeOf(err)), Message: "The policy was not saved; correct the fields marked below.", Action: engine.CodeOf(err).Action()}
	}
	if id == 0 {
		pushURL(c, "/policies/new")
	} else {
		pushURL(c, "/policies/"+c.Param("id"))
	}
	return render(c, statusFor(err), templates.PolicyForm(h.page(c, "Policy", "policies"), d))
}

// PreviewPolicy re-renders the schedule in words as the form changes.
func (h *Handlers) PreviewPolicy(c echo.Context) error {
	p, errs := policyFromForm(c)
	p.Defaults()
	if err := p.Validate(); err != nil {
		errs = fieldErrs(err, errs)
	}
	return render(c, http.StatusOK, templates.PolicyDescription(p, errs))
}

// DeletePolicy deletes an unused policy; one in use is refused with the reason.
func (h *Handlers) DeletePolicy(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	if err := h.Coord.DeletePolicy(c.Request().Context(), id); err != nil {
		return h.policiesPage(c, err)
	}
	return h.seeOtherFlash(c, "/policies", "Policy deleted.")
}
