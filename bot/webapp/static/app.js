// Mahfil's dashboard: a Telegram Mini App. Plain JavaScript, no build step.
//
// Telegram gives the page its launch parameters (signed initData, theme colours) through
// telegram-web-app.js; the sandbox, which has no internet, passes the same parameters in the
// address's fragment (#tgWebAppData=…&tgWebAppThemeParams=…), as Telegram's clients do.
// Every request sends initData; the server checks it and the person's role each time.
// Text written by people arrives as data and is only ever put in with textContent.
"use strict";

const TG = window.Telegram && window.Telegram.WebApp && window.Telegram.WebApp.initData
  ? window.Telegram.WebApp : null;

function launchParams() {
  const hash = new URLSearchParams(location.hash.slice(1));
  let theme = {};
  try {
    theme = JSON.parse(hash.get("tgWebAppThemeParams") || "{}") || {};
  } catch (error) {
    theme = {};
  }
  return { initData: hash.get("tgWebAppData") || "", theme };
}

const launch = launchParams();
const state = {
  initData: TG ? TG.initData : launch.initData,
  community: new URLSearchParams(location.search).get("community"),
  lang: "en", dir: "ltr", text: {}, charts: [], current: null,
};
const $ = (id) => document.getElementById(id);

// -- theme -----------------------------------------------------------------------------------

const THEME_VARS = {
  bg_color: "--bg", text_color: "--text", hint_color: "--hint", link_color: "--link",
  button_color: "--button", button_text_color: "--button-text",
  secondary_bg_color: "--secondary-bg", section_bg_color: "--section-bg",
  destructive_text_color: "--danger", accent_text_color: "--accent",
};

function applyTheme(params) {
  const root = document.documentElement;
  for (const [key, name] of Object.entries(THEME_VARS)) {
    const value = params && params[key];
    if (typeof value === "string" && /^#[0-9a-fA-F]{3,8}$/.test(value)) {
      root.style.setProperty(name, value);
    }
  }
  if (window.Chart) {
    const style = getComputedStyle(root);
    Chart.defaults.color = style.getPropertyValue("--text").trim() || "#222";
    Chart.defaults.borderColor = style.getPropertyValue("--grid").trim() || "rgba(0,0,0,.1)";
  }
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// -- small DOM helpers -------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// add() appends children and returns the parent; put() appends one and returns it.
function add(parent, ...children) {
  for (const child of children) if (child) parent.appendChild(child);
  return parent;
}

function put(parent, child) {
  parent.appendChild(child);
  return child;
}

function card(title, subtitle) {
  const box = el("section", "card");
  if (title) add(box, el("h2", "", title));
  if (subtitle) add(box, el("p", "hint", subtitle));
  return box;
}

function cut(text, limit) {
  const value = String(text);
  return value.length <= limit ? value : value.slice(0, limit - 1) + "…";
}

// -- the server ------------------------------------------------------------------------------

function apiUrl(path) {
  const query = state.community ? "?community=" + encodeURIComponent(state.community) : "";
  return "api/" + path + query;
}

async function api(path) {
  const response = await fetch(apiUrl(path), {
    headers: { Authorization: "tma " + state.initData }, cache: "no-store",
    credentials: "omit",
  });
  if (!response.ok) {
    let message = "";
    try {
      message = (await response.json()).message || "";
    } catch (error) {
      message = "";
    }
    const failure = new Error(message || String(response.status));
    failure.status = response.status;
    throw failure;
  }
  return response.json();
}

async function download(path, name, button) {
  button.disabled = true;
  try {
    if (TG && TG.downloadFile && TG.isVersionAtLeast && TG.isVersionAtLeast("8.0")) {
      // Telegram's apps download the file themselves: ask for a one-time link first.
      const link = await api(path.replace("/export.", "/link."));
      TG.downloadFile({ url: new URL(link.path, location.href).href, file_name: link.name });
      return;
    }
    const response = await fetch(apiUrl(path), {
      headers: { Authorization: "tma " + state.initData }, cache: "no-store",
      credentials: "omit",
    });
    if (!response.ok) throw new Error(String(response.status));
    const url = URL.createObjectURL(await response.blob());
    const link = el("a");
    link.href = url;
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    button.textContent = state.text.failed;
  } finally {
    button.disabled = false;
  }
}

// -- charts ----------------------------------------------------------------------------------

const PALETTE = ["#2a7ab0", "#e08a1e", "#3a9d5d", "#c0504d", "#8064a2", "#4bacc6", "#9b7b3e",
  "#d16ba5", "#5d6d7e"];

function colour(index) {
  return PALETTE[index % PALETTE.length];
}

function percentFormat() {
  return new Intl.NumberFormat(state.lang, { style: "percent", maximumFractionDigits: 0 });
}

// Axis numbers in the page's language (Chart.js writes a plain "0" whatever the locale).
function numberTicks(percent) {
  const format = percent ? percentFormat() : new Intl.NumberFormat(state.lang);
  return { callback: (value) => format.format(value), precision: percent ? undefined : 0 };
}

function chartBox(parent, name, height) {
  const box = el("div", "chart");
  box.style.height = height + "px";
  const canvas = el("canvas");
  canvas.dataset.chart = name;
  canvas.setAttribute("role", "img");
  box.appendChild(canvas);
  parent.appendChild(box);
  return canvas;
}

function draw(canvas, config) {
  if (!window.Chart) return null;
  const rtl = state.dir === "rtl";
  const options = config.options || {};
  options.locale = state.lang;
  options.responsive = true;
  options.maintainAspectRatio = false;
  options.animation = false;
  options.layout = { padding: { left: 8, right: 8, top: 8 } };
  options.plugins = Object.assign({
    legend: { rtl, textDirection: state.dir, labels: { boxWidth: 12 } },
  }, options.plugins || {});
  options.plugins.tooltip = Object.assign({ rtl, textDirection: state.dir },
    options.plugins.tooltip || {});
  config.options = options;
  const chart = new Chart(canvas, config);
  canvas.dataset.series = String(config.data.datasets.length);
  state.charts.push(chart);
  return chart;
}

// Horizontal bars: labels on the reading side, bars growing away from it.
function barChart(parent, name, labels, series, { stacked = false, percent = false } = {}) {
  const rtl = state.dir === "rtl";
  const canvas = chartBox(parent, name, 60 + 30 * Math.max(labels.length, 1) +
    (series.length > 1 ? 24 : 0));
  draw(canvas, {
    type: "bar",
    data: {
      labels: labels.map((label) => cut(label, 26)),
      datasets: series.map((s, i) => ({
        label: s.label, data: s.data, backgroundColor: colour(i), stack: s.stack,
        borderRadius: 3, maxBarThickness: 22,
      })),
    },
    options: {
      indexAxis: "y",
      scales: {
        x: { reverse: rtl, stacked, beginAtZero: true, ticks: numberTicks(percent) },
        y: { position: rtl ? "right" : "left", stacked },
      },
      plugins: {
        legend: { display: series.length > 1, rtl, textDirection: state.dir },
        tooltip: { callbacks: { title: (items) => labels[items[0].dataIndex] } },
      },
    },
  });
  return canvas;
}

// A line (or lines) over categories in time order; time runs from the reading side.
function lineChart(parent, name, labels, series, { percent = false, levels = [] } = {}) {
  const rtl = state.dir === "rtl";
  const canvas = chartBox(parent, name, 240);
  draw(canvas, {
    type: "line",
    data: {
      labels,
      datasets: series.map((s, i) => {
        const level = levels.includes(i) || s.kind === "level";
        return {
          label: s.label, data: s.data, borderColor: colour(i), backgroundColor: colour(i),
          borderDash: level ? [6, 4] : [], pointRadius: level ? 0 : 3, spanGaps: true,
          borderWidth: level ? 1.5 : 2.5, tension: 0,
        };
      }),
    },
    options: {
      scales: {
        x: { reverse: rtl, offset: true, ticks: { autoSkip: true, maxRotation: 0 } },
        y: { position: rtl ? "right" : "left", beginAtZero: percent,
             max: percent ? 1 : undefined, ticks: numberTicks(percent) },
      },
    },
  });
  return canvas;
}

// The "today" line on the plan's timeline (Chart.js has no annotations without a plugin).
const todayLine = {
  id: "todayLine",
  afterDatasetsDraw(chart, _args, options) {
    if (options.value === undefined) return;
    const x = chart.scales.x.getPixelForValue(options.value);
    const { top, bottom } = chart.chartArea;
    const ctx = chart.ctx;
    ctx.save();
    ctx.strokeStyle = options.colour;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, bottom);
    ctx.stroke();
    ctx.restore();
  },
};

function timelineChart(parent, timeline) {
  const rtl = state.dir === "rtl";
  const tasks = timeline.tasks;
  const canvas = chartBox(parent, "timeline", 70 + 34 * tasks.length);
  const labels = new Map(timeline.ticks.map((t) => [t.value, t.label]));
  const danger = cssVar("--danger") || "#c0392b";
  draw(canvas, {
    type: "bar",
    plugins: [todayLine],
    data: {
      labels: tasks.map((t) => cut(t.title, 16)),
      datasets: [
        { label: state.text.timeline, data: tasks.map((t) => [t.start, t.end]),
          backgroundColor: tasks.map((t) => (t.overdue ? danger + "55" : colour(0) + "40")),
          borderColor: tasks.map((t) => (t.overdue ? danger : colour(0))), borderWidth: 1,
          grouped: false, barPercentage: 0.8 },
        { label: "%", data: tasks.map((t) => [t.start, t.start + (t.end - t.start) * t.progress / 100]),
          backgroundColor: tasks.map((t) => (t.overdue ? danger : colour(0))), grouped: false,
          barPercentage: 0.8 },
      ],
    },
    options: {
      indexAxis: "y",
      scales: {
        x: { min: timeline.min, max: timeline.max, reverse: rtl,
             afterBuildTicks: (axis) => { axis.ticks = timeline.ticks.map((t) => ({ value: t.value })); },
             ticks: { callback: (value) => labels.get(value) || "", maxRotation: 0 } },
        y: { position: rtl ? "right" : "left" },
      },
      plugins: {
        legend: { display: false },
        todayLine: { value: timeline.today, colour: cssVar("--accent") || "#e08a1e" },
        tooltip: { callbacks: {
          title: (items) => tasks[items[0].dataIndex].title,
          label: (item) => tasks[item.dataIndex].text,
        } },
      },
    },
  });
}

// -- sections --------------------------------------------------------------------------------

function empty(parent) {
  return add(parent, el("p", "hint", state.text.empty));
}

function groupTable(groups) {
  const list = el("ul", "groups");
  for (const g of groups) {
    const item = el("li");
    add(item, el("span", "", g.label), el("span", "num", g.text));
    list.appendChild(item);
  }
  return list;
}

const SECTIONS = {
  participation(view, data) {
    if (data.members) {
      const box = put(view, card(state.text.members, data.total_text));
      barChart(box, "members", data.members.labels, data.members.series);
    }
    const over = put(view, card(state.text.over_time));
    if (data.events.length) {
      lineChart(over, "participation", data.over_time.labels, data.over_time.series,
        { percent: true });
    } else {
      empty(over);
    }
    const events = put(view, card(state.text.events));
    for (const event of data.events) {
      const item = put(events, el("article", "event"));
      add(item, el("p", "hint", event.kind_label + " · " + event.date),
        el("h3", "", event.title), el("p", "summary", event.summary));
      const details = put(item, el("details"));
      add(details, el("summary", "", state.text.members), groupTable(event.groups));
    }
    if (!data.events.length) empty(events);
  },

  priorities(view, data) {
    for (const vote of data.votes) {
      const box = put(view, card(vote.title, vote.method_label + " · " + vote.status));
      add(box, el("p", "summary", vote.voters_text));
      barChart(box, "vote-" + vote.id, vote.labels, vote.series,
        { stacked: vote.series.length > 1 });
      add(box, el("p", "winner", vote.winner));
      const ranking = put(box, el("ol", "ranking"));
      for (const row of vote.rows) {
        const item = put(ranking, el("li"));
        add(item, el("span", "rank", row.rank), el("span", "", row.title),
          el("span", "num", row.score));
      }
      if (vote.chat_only) {
        const details = put(box, el("details"));
        add(details, el("summary", "", state.text.chat_only));
        const online = put(details, el("ol", "ranking"));
        for (const row of vote.chat_only) {
          add(put(online, el("li")), el("span", "rank", row.rank), el("span", "", row.title),
            el("span", "num", row.score));
        }
      }
    }
    if (!data.votes.length) empty(put(view, card(state.text.results)));
    const board = data.brainstorm;
    const box = put(view, card(state.text.brainstorm, board ? board.status : ""));
    if (board && board.labels.length) {
      add(box, el("p", "prompt", board.prompt));
      barChart(box, "brainstorm", board.labels, board.series);
    } else {
      if (board) add(box, el("p", "prompt", board.prompt));
      empty(box);
    }
  },

  plan(view, data) {
    for (const plan of data.plans) {
      const box = put(view, card(plan.problem, plan.status));
      const bar = put(box, el("div", "progress"));
      const fill = put(bar, el("div", "fill"));
      fill.style.width = Math.max(0, Math.min(100, plan.progress)) + "%";
      add(box, el("p", "summary", plan.progress_text));
      add(box, el("h3", "", state.text.timeline));
      if (plan.timeline.tasks.length) {
        timelineChart(box, plan.timeline);
        const list = put(box, el("ul", "tasks"));
        for (const task of plan.timeline.tasks) {
          const item = put(list, el("li", task.overdue ? "overdue" : ""));
          add(item, el("strong", "", task.title), el("span", "hint", " — " + task.who));
          add(item, el("div", "hint", task.text +
            (task.overdue ? " · " + state.text.overdue : "")));
        }
      } else {
        empty(box);
      }
      add(box, el("h3", "", state.text.tree));
      add(box, problemTree(plan));
    }
    if (!data.plans.length) empty(put(view, card(state.text.timeline)));
    const resources = put(view, card(state.text.resources));
    for (const kind of data.resources) {
      add(resources, el("h3", "", kind.label));
      const list = put(resources, el("ul", "plain"));
      for (const item of kind.items) {
        add(put(list, el("li")), el("span", "", item.text), el("span", "hint", " — " + item.who));
      }
    }
    if (!data.resources.length) empty(resources);
    if (data.actors.length) {
      const actors = put(view, card(state.text.actors));
      const list = put(actors, el("ul", "plain"));
      for (const a of data.actors) {
        add(put(list, el("li")), el("strong", "", a.name), el("div", "hint", a.text),
          el("div", "", a.role));
      }
    }
  },

  indicators(view, data) {
    for (const indicator of data.indicators) {
      const box = put(view, card(indicator.name, indicator.plan));
      add(box, el("p", "summary", indicator.text));
      lineChart(box, "indicator", indicator.labels, indicator.series);
      add(box, el("p", "", indicator.latest));
    }
    if (!data.indicators.length) empty(put(view, card(state.text.title)));
  },

  surveys(view, data) {
    for (const survey of data.surveys) {
      const box = put(view, card(survey.title, survey.status));
      add(box, el("p", "summary", survey.responses));
      const actions = put(box, el("div", "actions"));
      for (const kind of ["csv", "xlsx"]) {
        const button = put(actions, el("button", "", state.text[kind]));
        button.type = "button";
        button.dataset.export = kind;
        button.addEventListener("click", () => download(
          "surveys/" + survey.id + "/export." + kind, "survey-" + survey.id + "." + kind, button));
      }
      const details = put(box, el("details"));
      add(details, el("summary", "", state.text.members), groupTable(survey.groups));
      for (const q of survey.questions) {
        const item = put(box, el("article", "question"));
        add(item, el("h3", "", q.prompt), el("p", "hint", q.answered));
        if (q.series.length) barChart(item, "question", q.labels, q.series);
        if (q.mean) add(item, el("p", "", q.mean));
        if (q.texts.length) {
          const list = put(item, el("ul", "quotes"));
          for (const text of q.texts) add(list, el("li", "", text));
        }
      }
    }
    if (!data.surveys.length) empty(put(view, card(state.text.title)));
  },
};

// The problem tree: consequences above the problem, causes below, each branch under its own.
function problemTree(plan) {
  const tree = el("div", "tree");
  function branches(nodes, className) {
    const list = el("ul", className);
    for (const node of nodes) {
      const item = put(list, el("li"));
      add(item, el("span", "node", node.text));
      if (node.children.length) add(item, branches(node.children, ""));
    }
    return list;
  }
  const { causes, consequences } = plan.tree;
  add(tree, el("p", "label", state.text.consequences));
  add(tree, consequences.length ? branches(consequences, "branches up")
    : el("p", "hint", state.text.empty));
  add(tree, el("div", "trunk", plan.problem));
  add(tree, el("p", "label", state.text.causes));
  add(tree, causes.length ? branches(causes, "branches down") : el("p", "hint", state.text.empty));
  return tree;
}

async function show(section) {
  state.current = section;
  for (const chart of state.charts) chart.destroy();
  state.charts = [];
  for (const tab of $("tabs").children) {
    tab.setAttribute("aria-selected", String(tab.dataset.section === section));
  }
  const view = $("view");
  view.replaceChildren(el("p", "hint", state.text.loading));
  document.body.dataset.ready = "";
  try {
    const data = await api("section/" + section);
    if (state.current !== section) return;
    view.replaceChildren();
    SECTIONS[section](view, data);
    document.body.dataset.ready = section;
  } catch (error) {
    view.replaceChildren(el("p", "error", error.message || state.text.failed));
    document.body.dataset.ready = "error";
  }
}

async function start() {
  applyTheme(TG ? TG.themeParams : launch.theme);
  if (TG) {
    TG.ready();
    TG.expand();
    TG.onEvent("themeChanged", () => applyTheme(TG.themeParams));
  }
  let overview;
  try {
    overview = await api("overview");
  } catch (error) {
    $("status").textContent = error.message || "401";
    $("status").className = "error";
    document.body.dataset.ready = "error";
    return;
  }
  state.lang = overview.lang;
  state.dir = overview.dir;
  state.text = overview.text;
  document.documentElement.lang = overview.lang;
  document.documentElement.dir = overview.dir;
  document.title = overview.text.title + " · " + overview.community.name;
  $("title").textContent = overview.text.title;
  $("community").textContent = overview.community.name + " · " + overview.role_label;
  if (overview.step) {
    $("step").textContent = overview.step;
    $("step").hidden = false;
  }
  const tabs = $("tabs");
  for (const section of overview.sections) {
    const tab = put(tabs, el("button", "tab", section.label));
    tab.type = "button";
    tab.dataset.section = section.key;
    tab.addEventListener("click", () => show(section.key));
  }
  const wanted = new URLSearchParams(location.hash.slice(1)).get("section");
  const first = overview.sections.find((s) => s.key === wanted) || overview.sections[0];
  await show(first.key);
}

window.addEventListener("DOMContentLoaded", start);
