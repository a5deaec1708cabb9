package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// invalidField is a 422 error naming the request field at fault.
func invalidField(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	full := msg
	if field != "" {
		full = field + ": " + msg
	}
	return &engine.Error{Code: engine.CodeInvalidRequest, Message: full, Err: &coordinator.FieldError{Field: field, Message: msg}}
}

// decodeBody decodes the request's JSON body into v strictly: an unknown
// field, a value of the wrong type or trailing data is a 422 naming the
// field. An empty body is allowed only when emptyOK (v keeps its zero
// value).
func decodeBody(c echo.Context, v any, emptyOK bool) error {
	err := decodeJSON(c.Request().Body, v, emptyOK)
	keepBody(c, v, err)
	return err
}

// decodeIgnoring is decodeBody for an object whose top-level keys named
// in ignore are read-only fields of the answer: accepted and dropped, so
// what GET answers can be sent back as is.
func decodeIgnoring(c echo.Context, v any, ignore ...string) error {
	var obj map[string]json.RawMessage
	if err := decodeJSON(c.Request().Body, &obj, false); err != nil {
		return err
	}
	if obj == nil {
		return invalidField("", "the request needs a JSON object as its body")
	}
	for _, k := range ignore {
		delete(obj, k)
	}
	b, _ := json.Marshal(obj)
	err := decodeJSON(bytes.NewReader(b), v, false)
	keepBody(c, v, err)
	return err
}

func decodeJSON(r io.Reader, v any, emptyOK bool) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		if emptyOK {
			return nil
		}
		return invalidField("", "the request needs a JSON object as its body")
	}
	if err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidField("", "the body must hold one JSON object and nothing after it")
	}
	return nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &se):
		return invalidField("", "the body is not valid JSON (at byte %d): %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		return invalidField(field, "must be %s, not %s", typeWord(te.Type), te.Value)
	case errors.As(err, &pe):
		return invalidField("", "%q is not a time in RFC 3339 (e.g. 2026-03-01T14:30:00Z)", pe.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidField("", "the body ends before its JSON object does")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return invalidField(name, "this request has no such field")
	}
	return invalidField("", "the body cannot be read: %v", err)
}

func typeWord(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// parseTime reads an RFC 3339 time (any offset) as UTC.
func parseTime(field, s string) (*time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return nil, invalidField(field, "%q is not a time in RFC 3339 (e.g. 2026-03-01T14:30:00Z)", s)
	}
	t = t.UTC()
	return &t, nil
}

// queryTime reads an optional RFC 3339 query parameter.
func queryTime(c echo.Context, name string) (*time.Time, error) {
	s := c.QueryParam(name)
	if s == "" {
		return nil, nil
	}
	return parseTime(name, s)
}

// pathInt reads a non-negative integer path parameter; anything else is
// an unknown object (404).
func pathInt(c echo.Context, name string) (int64, error) {
	v, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || v < 0 {
		return 0, engine.Errorf(engine.CodeNotFound, "no object with %s %q", name, c.Param(name))
	}
	return v, nil
}

// jobAccepted answers 202 with the id of the job that does the work.
func jobAccepted(c echo.Context, jobID int64) error {
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/api/v1/jobs/%d", jobID))
	return c.JSON(http.StatusAccepted, map[string]int64{"job_id": jobID})
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName makes s safe as a download's file name.
func fileName(s string) string {
	s = strings.Trim(unsafeFileChars.ReplaceAllString(s, "_"), "_.")
	if s == "" {
		return "server"
	}
	return s
}

// attachment sets Content-Disposition for a download.
func attachment(c echo.Context, name string) {
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s"`, name))
}
