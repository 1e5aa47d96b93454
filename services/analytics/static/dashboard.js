/* Dashboard of the network: fetches /v1/kpis (session cookie) and draws Chart.js charts.
   Each canvas gets data-rendered="true" once its chart is drawn; <body data-charts-ready="N" data-rendered="N">
   says how many charts were drawn (used by the browser test). Each chart's figures are also given
   as a table under it (<details class="chart-data">), for screen readers and for reading values. */
(function () {
  "use strict";
  const COLORS = ["#15803d", "#1d4ed8", "#b45309", "#7e22ce", "#be123c", "#0e7490"];
  const charts = {};
  const fmt = (v) => (v === null || v === undefined ? "—" : String(v));

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: true, spanGaps: true }, config.options || {});
    config.plugins = [{ id: "rendered", afterRender: (chart) => { chart.canvas.dataset.rendered = "true"; } }];
    charts[id] = new Chart(canvas, config);
    dataTable(canvas, config.data);
  }

  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  function dataTable(canvas, data) {
    const holder = canvas.parentElement;
    let details = holder.querySelector("details.chart-data");
    if (!details) {
      details = document.createElement("details");
      details.className = "chart-data";
      holder.appendChild(details);
    }
    const caption = holder.querySelector("figcaption, h3");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", (caption ? caption.textContent : "Graphique") + " — les chiffres sont dans le tableau qui suit");
    let html = "<summary>Chiffres du graphique</summary><table><caption>" + esc(caption ? caption.textContent : "") + '</caption><tr><th scope="col"></th>' +
      data.datasets.map((d) => '<th scope="col">' + esc(d.label) + "</th>").join("") + "</tr>";
    data.labels.forEach((label, i) => {
      html += '<tr><th scope="row">' + esc(label) + "</th>" + data.datasets.map((d) => "<td>" + fmt(d.data[i]) + "</td>").join("") + "</tr>";
    });
    details.innerHTML = html + "</table>";
  }

  function perOffice(data, pick) {
    const names = data.office_names;
    const labels = data.network.periods.map((p) => p.period);
    const datasets = Object.keys(data.offices).map((office, i) => ({
      label: names[office] || office,
      data: data.offices[office].periods.map(pick),
      backgroundColor: COLORS[i % COLORS.length],
      borderColor: COLORS[i % COLORS.length],
    }));
    return { labels, datasets };
  }

  function officeBars(data, series) {
    const offices = Object.keys(data.offices);
    return {
      labels: offices.map((o) => data.office_names[o] || o),
      datasets: series.map(([label, pick], i) => ({
        label,
        data: offices.map((o) => pick(data.offices[o].total)),
        backgroundColor: COLORS[i % COLORS.length],
      })),
    };
  }

  function render(data) {
    draw("chart-volume", { type: "bar", data: perOffice(data, (p) => p.volume.opened) });
    draw("chart-backlog", { type: "line", data: perOffice(data, (p) => p.backlog) });
    draw("chart-repair", {
      type: "bar",
      data: officeBars(data, [
        ["U1 médiane", (t) => t.repair_time.U1.median_hours],
        ["U1 90e centile", (t) => t.repair_time.U1.p90_hours],
        ["U2 médiane", (t) => t.repair_time.U2.median_hours],
        ["U2 90e centile", (t) => t.repair_time.U2.p90_hours],
        ["U3 médiane", (t) => t.repair_time.U3.median_hours],
        ["U3 90e centile", (t) => t.repair_time.U3.p90_hours],
      ]),
    });
    draw("chart-target", {
      type: "bar",
      data: officeBars(data, [
        ["Urgences (U1+U2)", (t) => t.within_target.emergency.pct],
        ["Non urgentes (U3)", (t) => t.within_target.non_emergency.pct],
      ]),
      options: { scales: { y: { min: 0, max: 100 } } },
    });
    draw("chart-breaches", {
      type: "bar",
      data: officeBars(data, [
        ["Première réponse", (t) => t.sla_breaches.first_response.count],
        ["Intervention", (t) => t.sla_breaches.intervention.count],
        ["Résolution", (t) => t.sla_breaches.resolution.count],
      ]),
    });
    draw("chart-csat", { type: "line", data: perOffice(data, (p) => p.csat.pct), options: { scales: { y: { min: 0, max: 100 } } } });
    draw("chart-nps", { type: "line", data: perOffice(data, (p) => p.nps.score), options: { scales: { y: { min: -100, max: 100 } } } });
    draw("chart-response", { type: "bar", data: perOffice(data, (p) => p.survey_response.rate_pct), options: { scales: { y: { min: 0, max: 100 } } } });
    const outcomes = [["envoyées", "sent"], ["délivrées", "delivered"], ["en échec", "failed"], ["différées", "deferred"], ["supprimées", "suppressed"]];
    draw("chart-notifications", {
      type: "bar",
      data: officeBars(data, outcomes.map(([label, key]) => [label, (t) => t.notifications.sms[key] + t.notifications.email[key]])),
      options: { scales: { x: { stacked: true }, y: { stacked: true } } },
    });
    draw("chart-axis-keys", {
      type: "bar",
      data: officeBars(data, [["Part des demandes numériques (%)", (t) => t.digital_share_pct], ["Accusés de réception envoyés (%)", (t) => t.follow_up_coverage_pct], ["Suivi en ligne disponible (%)", (t) => t.status_available_pct]]),
      options: { scales: { y: { min: 0, max: 100 } } },
    });
    draw("chart-axis-posture", {
      type: "bar",
      data: officeBars(data, [["Satisfaits (%)", (t) => t.csat.pct], ["NPS", (t) => t.nps.score], ["Alertes détracteurs", (t) => t.closed_loop.alerts], ["Alertes traitées sous 48 h (%)", (t) => t.closed_loop.acknowledged_within_48h_pct]]),
    });
    draw("chart-axis-team", {
      type: "bar",
      data: officeBars(data, [["Première réponse, médiane (h)", (t) => t.first_response.median_hours], ["Demandes réaffectées (%)", (t) => t.reassigned.pct], ["Réouvertures (%)", (t) => t.reopen.rate_pct]]),
    });
    draw("chart-axis-mission", {
      type: "bar",
      data: officeBars(data, [["Urgences dans les délais (%)", (t) => t.within_target.emergency.pct], ["Non urgentes dans les délais (%)", (t) => t.within_target.non_emergency.pct], ["Mutations répondues à temps (%)", (t) => t.transfer_answered_in_time.pct]]),
    });
    const campaigns = data.network.campaigns;
    const axisLabels = { keys: "Donner les clés", posture: "Bonne posture", team: "Esprit d'équipe", mission: "Notre mission" };
    draw("chart-campaigns", {
      type: "bar",
      data: {
        labels: Object.values(axisLabels),
        datasets: Object.keys(campaigns).map((c, i) => ({
          label: c + " (" + fmt(campaigns[c].response_rate_pct) + " % de réponses)",
          data: Object.keys(axisLabels).map((a) => campaigns[c].axes[a].mean),
          backgroundColor: COLORS[i % COLORS.length],
        })),
      },
      options: { scales: { y: { min: 0, max: 5 } } },
    });
    summary(data);
    const drawn = document.querySelectorAll("canvas[data-rendered='true']").length;
    document.body.dataset.chartsReady = String(drawn);
    document.body.dataset.rendered = String(drawn); // <body data-rendered="N">: read by --dump-dom checks
    document.getElementById("status").textContent = "Du " + data.from + " au " + data.to + " — " + drawn + " graphiques.";
  }

  function summary(data) {
    const table = document.getElementById("summary");
    const scopes = Object.keys(data.offices).map((o) => [data.office_names[o] || o, data.offices[o].total]);
    scopes.push(["Réseau", data.network.total]);
    const rows = [
      ["Demandes ouvertes", (t) => t.volume.opened],
      ["Demandes pour 1 000 logements", (t) => (t.per_1000_homes || {}).opened],
      ["Dépassements pour 1 000 logements", (t) => (t.per_1000_homes || {}).breaches],
      ["Réclamations", (t) => (t.complaints || {}).opened],
      ["Réclamations répondues dans les délais (%)", (t) => (t.complaints || {}).answered_in_time_pct],
      ["Alertes détracteurs pour 1 000 logements", (t) => (t.per_1000_homes || {}).detractors],
      ["Stock en fin de période", (t) => t.backlog],
      ["Satisfaits (%)", (t) => t.csat.pct],
      ["Note moyenne", (t) => t.csat.mean],
      ["NPS", (t) => t.nps.score],
      ["Taux de réponse (%)", (t) => t.survey_response.rate_pct],
      ["Alertes détracteurs traitées sous 48 h (%)", (t) => t.closed_loop.acknowledged_within_48h_pct],
      ["Rendez-vous manqués", (t) => t.missed_appointments.count],
      ["SMS (segments)", (t) => t.sms_segments],
    ];
    let html = "<caption>Synthèse sur la période</caption><tr><th>Indicateur</th>" + scopes.map(([n]) => "<th>" + n + "</th>").join("") + "</tr>";
    for (const [label, pick] of rows) html += "<tr><td>" + label + "</td>" + scopes.map(([, t]) => "<td>" + fmt(pick(t)) + "</td>").join("") + "</tr>";
    table.innerHTML = html;
  }

  function offices(data) {
    const select = document.getElementById("office");
    if (select.options.length > 1 || select.value) return;
    for (const [id, name] of Object.entries(data.office_names || {})) select.add(new Option(name, id));
  }

  function query() {
    const params = new URLSearchParams();
    for (const id of ["from", "to", "period", "office"]) {
      const v = document.getElementById(id).value;
      if (v) params.set(id, v);
    }
    return params;
  }

  async function load() {
    const params = query();
    document.getElementById("csv").href = "/v1/kpis.csv?" + params;
    const response = await fetch("/v1/kpis?" + params, { credentials: "same-origin" });
    if (!response.ok) {
      document.getElementById("status").textContent = "Erreur " + response.status;
      return;
    }
    const data = await response.json();
    offices(data);
    render(data);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const here = new URLSearchParams(location.search);
    for (const id of ["from", "to", "period"]) if (here.get(id)) document.getElementById(id).value = here.get(id);
    if (here.get("office")) document.getElementById("office").add(new Option(here.get("office"), here.get("office"), true, true));
    document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    load();
  });
})();
