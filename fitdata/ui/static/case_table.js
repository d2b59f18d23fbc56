// The team review's case table (fitdata.ui.team_review_table.CaseTable, an anywidget):
// sortable headers, clickable rows, coloured flag chips. Python owns the rows and the order.
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "fitdata-case-table-scroll";
  el.appendChild(root);
  const draw = () => {
    const columns = model.get("columns");
    const rows = model.get("rows");
    const sortBy = model.get("sort_by");
    const desc = model.get("descending");
    const selected = model.get("selected");
    const styles = model.get("flag_styles");
    const table = document.createElement("table");
    table.className = "fitdata-case-table";
    const head = table.createTHead().insertRow();
    for (const col of columns) {
      const th = document.createElement("th");
      th.dataset.key = col.key;
      th.scope = "col";
      th.tabIndex = 0;
      const arrow = col.key === sortBy ? (desc ? " \u25BC" : " \u25B2") : "";
      th.textContent = col.label + arrow;
      const order = desc ? "descending" : "ascending";
      th.setAttribute("aria-sort", col.key === sortBy ? order : "none");
      if (col.numeric) th.classList.add("num");
      const sort = () => {
        if (model.get("sort_by") === col.key) {
          model.set("descending", !model.get("descending"));
        } else {
          model.set("sort_by", col.key);
          model.set("descending", !!col.descending_first);
        }
        model.save_changes();
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      tr.dataset.key = row.key;
      tr.tabIndex = 0;
      if (row.key === selected) {
        tr.classList.add("selected");
        tr.setAttribute("aria-selected", "true");
      }
      const choose = () => { model.set("selected", row.key); model.save_changes(); };
      tr.addEventListener("click", choose);
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter") choose(); });
      for (const col of columns) {
        const td = tr.insertCell();
        td.dataset.key = col.key;
        if (col.numeric) td.classList.add("num");
        if (col.key === "flags") {
          for (const flag of row.flags) {
            const style = styles[flag.code] || {label: flag.code, colour: "#555", text: "#fff"};
            const chip = document.createElement("span");
            chip.className = "fitdata-chip";
            // a data-quality prompt is drawn outlined, apart from the warnings
            if (style.prompt) chip.classList.add("fitdata-chip-prompt");
            chip.dataset.flag = flag.code;
            chip.textContent = style.label;
            chip.title = flag.rule;
            chip.style.background = style.prompt ? "#ffffff" : style.colour;
            chip.style.color = style.prompt ? "#333333" : style.text;
            if (style.prompt) chip.style.borderColor = style.colour;
            td.appendChild(chip);
          }
        } else {
          td.textContent = row.cells[col.key] ?? "";
        }
      }
    }
    root.replaceChildren(table);
    const chosen = root.querySelector("tr.selected");
    if (chosen && model.get("scroll_to_selected")) keepInBox(chosen, table.tHead);
  };
  // Scroll the table's own box, never the page (scrollIntoView would move the window too):
  // a redraw must not pull the reader away from the graph below.
  const keepInBox = (row, head) => {
    const box = root.getBoundingClientRect();
    const top = box.top + root.clientTop + (head ? head.getBoundingClientRect().height : 0);
    const bottom = box.top + root.clientTop + root.clientHeight;
    const place = row.getBoundingClientRect();
    if (place.top < top) root.scrollTop -= top - place.top;
    else if (place.bottom > bottom) root.scrollTop += place.bottom - bottom;
  };
  draw();
  const events = ["change:rows", "change:columns", "change:sort_by", "change:descending",
                  "change:selected", "change:flag_styles"];
  for (const name of events) model.on(name, draw);
  return () => { for (const name of events) model.off(name, draw); };
}
export default { render };
