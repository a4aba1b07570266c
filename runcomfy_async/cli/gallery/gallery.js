// The gallery's pages, filters and search. Plain JavaScript, no library, nothing fetched:
// the records are in the page (script#gallery-data), so the page works from file://.
// Every text comes ready from Python and is put in with textContent, every link with
// setAttribute: nothing from the manifest is ever parsed as HTML. Cards are drawn exactly
// as _page.render_card writes them, one page at a time, so a batch of 10,000 inputs costs
// the page a hundred cards, not ten thousand.
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("gallery-data").textContent);
  const records = data.records;
  const pageSize = data.pageSize;
  const states = new Map(data.states.map((state) => [state.value, state]));
  const grid = document.getElementById("cards");
  const status = document.getElementById("status");
  const search = document.getElementById("search");
  const filters = Array.from(document.querySelectorAll("button.filter"));
  const pagers = Array.from(document.querySelectorAll(".pager"));
  // What the search looks in, lower-cased once.
  const prompts = records.map((record) => record.t.toLowerCase());
  const view = { filter: "all", query: "", page: 0 };
  let matches = [];

  const number = (n) => n.toLocaleString("en-US");

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function stateOf(value) {
    return states.get(value) || { value: value, label: value, tone: "bad", count: 0 };
  }

  function card(record) {
    const state = stateOf(record.s);
    const figure = element("figure", "card");
    figure.id = "input-" + record.i;
    figure.dataset.state = record.s;
    if (record.src) {
      const link = element("a", "thumb");
      link.setAttribute("href", record.h);
      const image = element("img");
      image.setAttribute("loading", "lazy"); // before src, or the image loads at once
      image.setAttribute("decoding", "async");
      image.setAttribute("alt", record.t);
      image.setAttribute("src", record.src);
      link.append(image);
      figure.append(link);
    } else {
      figure.append(element("div", "thumb placeholder tone-" + state.tone, record.ph || ""));
    }
    const caption = element("figcaption");
    const head = element("p", "head");
    head.append(element("span", "state tone-" + state.tone, state.label));
    head.append(element("span", "index", record.n || "#" + record.i));
    if (record.c) head.append(element("span", "cost", record.c));
    caption.append(head);
    const prompt = element("p", "prompt", record.t);
    prompt.setAttribute("title", record.t);
    caption.append(prompt);
    if (record.f) {
      const list = element("ul", "fields");
      for (const [label, value] of record.f) {
        const item = element("li");
        item.append(element("span", "key", label), element("span", "value", value));
        list.append(item);
      }
      caption.append(list);
    }
    if (record.w) caption.append(element("p", "meta timing", record.w));
    if (record.r) {
      const line = element("p", "meta request", "request ");
      line.append(element("code", "", record.r));
      caption.append(line);
    }
    if (record.m) caption.append(element("p", "meta model", record.m));
    if (record.l) {
      const line = element("p", "meta files");
      for (const [label, href] of record.l) {
        const link = element("a", "", label);
        link.setAttribute("href", href);
        line.append(link);
      }
      caption.append(line);
    }
    if (record.e) caption.append(element("p", state.tone === "held" ? "note" : "error", record.e));
    figure.append(caption);
    return figure;
  }

  function select() {
    const query = view.query;
    matches = [];
    for (let position = 0; position < records.length; position++) {
      const record = records[position];
      if (view.filter === "failures") {
        if (!record.x) continue;
      } else if (view.filter !== "all" && view.filter !== "state:" + record.s) {
        continue;
      }
      if (query && !prompts[position].includes(query)) continue;
      matches.push(position);
    }
  }

  function describe(count) {
    let what = count === 1 ? "input" : "inputs";
    if (view.filter === "failures") what = count === 1 ? "failure" : "failures";
    else if (view.filter !== "all") what = stateOf(view.filter.slice(6)).label + " " + what;
    return what + (view.query ? " matching \u201c" + search.value.trim() + "\u201d" : "");
  }

  function pageCount() {
    return Math.max(1, Math.ceil(matches.length / pageSize));
  }

  function drawCards() {
    view.page = Math.min(Math.max(view.page, 0), pageCount() - 1);
    const start = view.page * pageSize;
    const end = Math.min(matches.length, start + pageSize);
    const cards = document.createDocumentFragment();
    for (let position = start; position < end; position++) {
      cards.append(card(records[matches[position]]));
    }
    if (!matches.length) cards.append(element("p", "empty", "No " + describe(0) + "."));
    grid.replaceChildren(cards);
  }

  function drawControls() {
    const pages = pageCount();
    const start = view.page * pageSize;
    const end = Math.min(matches.length, start + pageSize);
    status.textContent = matches.length
      ? "Showing " + number(start + 1) + "\u2013" + number(end) + " of " +
        number(matches.length) + " " + describe(matches.length)
      : "No " + describe(0);
    for (const pager of pagers) {
      pager.querySelector("[data-go=prev]").disabled = view.page === 0;
      pager.querySelector("[data-go=next]").disabled = view.page >= pages - 1;
      pager.querySelector(".page").textContent =
        "Page " + number(view.page + 1) + " of " + number(pages);
    }
    for (const button of filters) {
      button.setAttribute("aria-pressed", String(button.dataset.filter === view.filter));
    }
  }

  function render() {
    drawCards();
    drawControls();
  }

  function update(change) {
    Object.assign(view, change);
    select();
    render();
  }

  for (const button of filters) {
    button.disabled = false;
    button.addEventListener("click", () => update({ filter: button.dataset.filter, page: 0 }));
  }
  search.disabled = false;
  search.addEventListener("input", () => {
    update({ query: search.value.trim().toLowerCase(), page: 0 });
  });
  for (const pager of pagers) {
    for (const button of pager.querySelectorAll("[data-go]")) {
      button.addEventListener("click", () => {
        view.page += button.dataset.go === "next" ? 1 : -1;
        render();
        window.scrollTo(0, 0);
      });
    }
  }
  // A link to one input (index.html#input-1234) opens the page that holds it.
  function reveal() {
    const wanted = /^#input-(-?\d+)$/.exec(location.hash);
    if (!wanted || document.getElementById(wanted[0].slice(1))) return false;
    const position = records.findIndex((record) => record.i === Number(wanted[1]));
    if (position < 0) return false;
    search.value = "";
    update({ filter: "all", query: "", page: Math.floor(position / pageSize) });
    document.getElementById(wanted[0].slice(1)).scrollIntoView();
    return true;
  }
  window.addEventListener("hashchange", reveal);

  // The first page is already in the page as HTML: the script takes over the controls and
  // draws cards only when the view changes (or when the browser kept a search text from
  // before a reload).
  view.query = search.value.trim().toLowerCase();
  select();
  if (!reveal()) {
    if (view.query) drawCards();
    drawControls();
  }
})();
