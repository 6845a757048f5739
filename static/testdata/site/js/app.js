"use strict";
document.addEventListener("DOMContentLoaded", () => {
	for (const a of document.querySelectorAll("a")) {
		a.addEventListener("click", () => console.log("navigating to", a.href));
	}
});
