// cxhooks console: copy buttons, confirmations, webhook validation and backtest as you type,
// auto-refresh.
// No framework and no build step; every page works without it.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const text = document.getElementById(button.dataset.copy).textContent.trim();
  const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 2000); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
  } else {
    fallbackCopy(text, done);
  }
});

function fallbackCopy(text, done) {
  const area = document.createElement("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); done(); } finally { area.remove(); }
}

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// Forms with data-validate are checked by the server (the same checks as the API) a moment
// after each change; messages go to the <p class="field-msg" data-for="/json/pointer"> below
// each field, and the summary to #problems.
for (const form of document.querySelectorAll("form[data-validate]")) {
  let timer = null;
  let sequence = 0;
  const validity = form.querySelector("#validity");
  const problems = document.getElementById("problems");
  const check = async () => {
    const mine = ++sequence;
    const body = new URLSearchParams(new FormData(form));
    let answer;
    try {
      const response = await fetch(form.dataset.validate, {
        method: "POST", body, credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      });
      if (!response.ok) return;
      answer = await response.json();
    } catch (_) { return; }
    if (mine !== sequence) return; // a newer check is on its way
    for (const p of form.querySelectorAll("p.field-msg")) p.replaceChildren();
    for (const f of form.querySelectorAll(".invalid")) f.classList.remove("invalid");
    const place = (item, cls) => {
      const target = form.querySelector(`p.field-msg[data-for="${CSS.escape(item.path)}"]`);
      if (!target) return false;
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = item.message + " ";
      target.appendChild(span);
      const field = target.previousElementSibling && target.previousElementSibling.querySelector("input, textarea, select");
      if (field && cls === "err") field.classList.add("invalid");
      return true;
    };
    const unplaced = answer.errors.filter((e) => !place(e, "err"));
    answer.warnings.forEach((w) => place(w, "warn"));
    if (problems) {
      problems.replaceChildren();
      if (!answer.valid) {
        const p = document.createElement("p");
        p.textContent = answer.detail;
        problems.appendChild(p);
        for (const e of unplaced) {
          const q = document.createElement("p");
          q.textContent = `${e.path}: ${e.message}`;
          problems.appendChild(q);
        }
      }
      problems.classList.toggle("hidden", answer.valid);
    }
    if (validity) {
      validity.textContent = answer.valid ? "✓ Valid" : "✗ Not valid yet";
      validity.className = "validity " + (answer.valid ? "ok" : "bad");
    }
    // The backtest: what the filters would have matched of the last stored changes.
    const backtest = form.querySelector("#backtest");
    if (backtest) {
      const found = answer.backtest;
      backtest.textContent = found ? found.summary : "";
      if (found && found.filters.length > 1) {
        backtest.textContent += " Per filter: " + found.filters.map((f) => `filter ${f.row}: ${f.matched}`).join(", ") + ".";
      }
    }
  };
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 300); });
  if ("checkNow" in form.dataset) check();
}

// An <input type="checkbox" data-refresh="SECONDS"> reloads its page every SECONDS while it is
// ticked; ticking or unticking it reloads at once with ?refresh=on or off, so the
// choice survives the reload (and works without this script, through its form).
const refresh = document.querySelector("input[data-refresh]");
if (refresh) {
  refresh.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("refresh", refresh.checked ? "on" : "off");
    window.location.assign(url);
  });
  if (refresh.checked) setTimeout(() => window.location.reload(), Number(refresh.dataset.refresh) * 1000);
}
