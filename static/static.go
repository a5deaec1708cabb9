// Package static holds the portal's CSS, JavaScript and images, embedded in
// the binary so the server needs no files beside it. htmx is vendored as
// released on npm (htmx.org 2.0.11, BSD Zero Clause licence).
package static

import "embed"

// FS holds every static file, served under /static/.
//
//go:embed *.css *.js *.svg htmx.LICENSE
var FS embed.FS
