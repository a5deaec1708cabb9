// The restore wizard's timeline: a click on it chooses the second under
// the pointer; the text field and the date-time picker are kept in step.
// A file, not an inline script: the portal's CSP allows scripts from
// 'self' only. Without JavaScript the text field alone works.
(function () {
	var svg = document.getElementById("tl-svg"), at = document.getElementById("r-at"), pick = document.getElementById("r-at-pick");
	if (!svg || !at) { return; }
	var t0 = Number(svg.dataset.t0), span = Number(svg.dataset.span), cursor = document.getElementById("tl-cursor");
	function fmt(d) { return d.toISOString().slice(0, 19).replace("T", " "); }
	function parse(s) { var d = new Date(s.trim().replace(" ", "T").replace(/Z?$/, "Z")); return isNaN(d) ? null : d; }
	function show(d) {
		var x = 10 + 780 * (d.getTime() - t0) / span;
		cursor.setAttribute("x1", x); cursor.setAttribute("x2", x);
		cursor.setAttribute("visibility", x >= 10 && x <= 790 ? "visible" : "hidden");
		if (pick) { pick.value = fmt(d).replace(" ", "T"); }
	}
	function choose(d) {
		at.value = fmt(d);
		document.getElementById("r-pit").checked = true;
		show(d);
		at.dispatchEvent(new Event("change", { bubbles: true }));
	}
	svg.style.cursor = "crosshair";
	svg.addEventListener("click", function (e) {
		if (e.target.closest("a")) { return; } // a full or differential mark opens its point
		var r = svg.getBoundingClientRect(), x = (e.clientX - r.left) * 800 / r.width;
		choose(new Date(Math.round((t0 + (x - 10) / 780 * span) / 1000) * 1000));
	});
	if (pick) { pick.addEventListener("change", function () { var d = parse(pick.value); if (d) { choose(d); } }); }
	at.addEventListener("input", function () { var d = parse(at.value); if (d) { show(d); } });
	var d = parse(at.value); if (d) { show(d); }
})();
