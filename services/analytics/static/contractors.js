/* Contractors page: fetches /v1/kpis?by=contractor (session cookie) and ranks the contractors of
   the chosen scope, each figure with the number of repairs, ratings or answers behind it.
   <body data-ready="N">: N contractor rows drawn (read by the browser test). */
(function () {
  "use strict";
  const fmt = (v) => (v === null || v === undefined ? "—" : String(v).replace(".", ","));
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  let last = null;

  function cell(value, n, unit) {
    return "<td>" + fmt(value) + (value === null || value === undefined ? "" : unit || "") + ' <span class="n">(n = ' + n + ")</span></td>";
  }

  function render(data) {
    last = data;
    const select = document.getElementById("scope");
    const chosen = select.value || "network";
    const names = data.office_names || {};
    select.innerHTML = '<option value="network">Réseau</option>' + Object.keys(data.offices).map((o) => '<option value="' + esc(o) + '">' + esc(names[o] || o) + "</option>").join("");
    select.value = data.offices[chosen] ? chosen : "network";
    const view = select.value === "network" ? data.network : data.offices[select.value];
    document.getElementById("rule").textContent = "Classement à partir de " + data.min_repairs + " réparations sur la période ; en deçà, les chiffres sont donnés sans rang.";
    let html = "<caption>Classement des entreprises du " + data.from + " au " + data.to + "</caption><tr>" +
      ["Rang", "Entreprise", "Réparations", "Dans les délais", "Urgences dans les délais", "Délai médian (h)", "Délai 90e centile (h)", "Résolues au 1er passage", "RDV manqués par l'entreprise", "Réparations à reprendre", "Satisfaits", "Détracteurs"].map((h) => '<th scope="col">' + h + "</th>").join("") + "</tr>";
    let rows = 0;
    for (const [id, c] of Object.entries(view.contractors)) {
      rows += 1;
      html += '<tr data-contractor="' + esc(id) + '"><td>' + (c.rank === null ? "—" : c.rank) + "</td><td>" + esc(c.name || id) + "</td><td>" + c.repairs + "</td>" +
        cell(c.within_target.all.pct, c.within_target.all.repairs, " %") +
        cell(c.within_target.emergency.pct, c.within_target.emergency.repairs, " %") +
        cell(c.repair_time.median_hours, c.repair_time.n) + cell(c.repair_time.p90_hours, c.repair_time.n) +
        cell(c.first_visit.rate_pct, c.first_visit.known, " %") +
        "<td>" + c.missed_appointments + "</td>" +
        cell(c.repeat_repairs.rate_pct, c.repairs, " %") +
        cell(c.csat.pct, c.csat.ratings, " %") +
        cell(c.detractors.count, c.csat.ratings) + "</tr>";
    }
    document.getElementById("ranking").innerHTML = html;
    document.body.dataset.ready = String(rows);
    document.getElementById("status").textContent = rows + " entreprises, " + view.total.repairs + " réparations.";
  }

  async function load() {
    const params = new URLSearchParams({ by: "contractor" });
    for (const id of ["from", "to"]) {
      const v = document.getElementById(id).value;
      if (v) params.set(id, v);
    }
    document.getElementById("csv").href = "/v1/kpis.csv?" + params;
    const response = await fetch("/v1/kpis?" + params, { credentials: "same-origin" });
    if (!response.ok) {
      document.getElementById("status").textContent = "Erreur " + response.status;
      return;
    }
    render(await response.json());
  }

  document.addEventListener("DOMContentLoaded", () => {
    const here = new URLSearchParams(location.search);
    for (const id of ["from", "to"]) if (here.get(id)) document.getElementById(id).value = here.get(id);
    if (here.get("scope")) document.getElementById("scope").innerHTML = '<option value="' + esc(here.get("scope")) + '">' + esc(here.get("scope")) + "</option>";
    document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    document.getElementById("scope").addEventListener("change", () => { if (last) render(last); });
    load();
  });
})();
