"""Stylesheets and scripts of the report pages, inlined into each page (plain JS, no
libraries, nothing fetched). Kept apart from the Python that writes the markup."""

GALLERY_CSS = """
.controls { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin-top: 8px; }
.controls label { color: var(--muted); }
.controls select { font: inherit; padding: 2px 4px; max-width: 22em; }
section.group > h2 { font-size: 15px; margin: 18px 0 8px; border-bottom: 1px solid var(--line); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px; display: flex;
        gap: 8px; background: #fff; }
.card.quarantined { background: #fff8f0; border-color: #e3b27a; }
.card .media { flex: 0 0 auto; width: 96px; display: flex; flex-direction: column; gap: 4px; }
.card .media img { image-rendering: pixelated; max-width: 96px; border: 1px solid var(--line); }
.card.audio { flex-direction: column; }
.card.audio .media { width: 100%; }
.card.audio .media img { max-width: 100%; image-rendering: auto; }
.card audio { width: 100%; height: 30px; }
.card .nomedia { width: 96px; height: 96px; display: flex; align-items: center;
                 justify-content: center; text-align: center; font-size: 11px;
                 color: var(--muted); border: 1px dashed var(--line); }
.card dl { margin: 0; display: grid; grid-template-columns: auto 1fr; gap: 0 6px;
           font-size: 12.5px; min-width: 0; }
.card dt { color: var(--muted); }
.card dd { margin: 0; overflow-wrap: anywhere; }
.card .id { font-family: ui-monospace, monospace; font-size: 11.5px; }
.flag { display: inline-block; font-size: 11px; padding: 0 5px; border-radius: 8px;
        background: #ddf4ff; margin: 1px 2px 0 0; }
.flag.bad { background: #ffebe9; }
"""

# Filters hide cards; grouping moves them into one section per key. Cards carry their
# keys in data-* attributes written by flywheel.reports.gallery.
GALLERY_JS = """
(function () {
  const cards = Array.from(document.querySelectorAll('article.card'));
  const box = document.getElementById('groups');
  const pick = (id) => document.getElementById(id).value;
  function keep(card) {
    const c = pick('filter-class'), s = pick('filter-source'), f = pick('filter-flag');
    return (!c || card.dataset.class === c) && (!s || card.dataset.source === s) &&
      (!f || card.dataset.flags.split(' ').indexOf(f) >= 0);
  }
  function render() {
    const by = pick('group-by');
    const groups = new Map();
    cards.forEach((card) => {
      const key = card.dataset[by] || '(none)';
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(card);
    });
    box.textContent = '';
    let shown = 0;
    Array.from(groups.keys()).sort().forEach((key) => {
      const members = groups.get(key);
      const visible = members.filter(keep);
      members.forEach((card) => { card.hidden = visible.indexOf(card) < 0; });
      shown += visible.length;
      const section = document.createElement('section');
      section.className = 'group';
      section.hidden = visible.length === 0;
      const title = document.createElement('h2');
      title.textContent = key + ' (' + visible.length + ')';
      const grid = document.createElement('div');
      grid.className = 'cards';
      members.forEach((card) => grid.appendChild(card));
      section.appendChild(title);
      section.appendChild(grid);
      box.appendChild(section);
    });
    document.getElementById('shown').textContent =
      'showing ' + shown + ' of ' + cards.length + ' cards';
  }
  ['filter-class', 'filter-source', 'filter-flag', 'group-by'].forEach((id) =>
    document.getElementById(id).addEventListener('change', render));
  render();
})();
"""

SCATTER_CSS = """
.layout { display: flex; gap: 16px; align-items: flex-start; }
svg.scatter { border: 1px solid var(--line); background: #fff; flex: 0 0 auto; }
svg.scatter circle { stroke: #fff; stroke-width: 0.6; cursor: pointer; }
svg.scatter circle.off { display: none; }
svg.scatter circle:hover { stroke: #000; stroke-width: 1.5; }
.legend { display: flex; flex-direction: column; gap: 3px; max-height: 720px; overflow: auto; }
.legend button { font: inherit; text-align: left; border: 1px solid var(--line);
                 background: #fff; border-radius: 4px; padding: 2px 8px; cursor: pointer; }
.legend button.off { opacity: 0.35; }
.legend .swatch { display: inline-block; width: 11px; height: 11px; border-radius: 50%;
                  margin-right: 6px; vertical-align: -1px; }
#tip { position: fixed; pointer-events: none; background: #fff; border: 1px solid var(--line);
       border-radius: 6px; padding: 6px; box-shadow: 0 2px 8px rgba(0,0,0,.15);
       font-size: 12px; display: none; z-index: 10; max-width: 260px; }
#tip img { display: block; image-rendering: pixelated; max-width: 240px; margin-bottom: 4px; }
"""

# Points are SVG circles with data-i indexing the JSON in #points; the legend toggles a
# class on and off; hovering a point shows its thumbnail and labels.
SCATTER_JS = """
(function () {
  const points = JSON.parse(document.getElementById('points').textContent);
  const tip = document.getElementById('tip');
  const circles = Array.from(document.querySelectorAll('svg.scatter circle'));
  function count() {
    const on = circles.filter((c) => !c.classList.contains('off')).length;
    document.getElementById('shown').textContent =
      'showing ' + on + ' of ' + circles.length + ' points';
  }
  document.querySelectorAll('.legend button').forEach((button) => {
    button.addEventListener('click', () => {
      const off = button.classList.toggle('off');
      circles.forEach((c) => {
        if (c.dataset.class === button.dataset.class) c.classList.toggle('off', off);
      });
      count();
    });
  });
  document.querySelector('svg.scatter').addEventListener('mousemove', (event) => {
    const target = event.target;
    if (target.tagName !== 'circle') { tip.style.display = 'none'; return; }
    const p = points[Number(target.dataset.i)];
    tip.textContent = '';
    if (p.thumb) {
      const img = document.createElement('img');
      img.src = p.thumb;
      img.alt = p.id;
      tip.appendChild(img);
    }
    const text = document.createElement('div');
    text.textContent = p.cls + ' \u2014 predicted ' + p.pred + ' (' + p.conf + ')';
    const id = document.createElement('div');
    id.className = 'muted';
    id.textContent = p.id.slice(0, 16) + '\u2026' + (p.group ? '  group ' + p.group : '');
    tip.appendChild(text);
    tip.appendChild(id);
    tip.style.left = (event.clientX + 14) + 'px';
    tip.style.top = (event.clientY + 14) + 'px';
    tip.style.display = 'block';
  });
  document.querySelector('svg.scatter').addEventListener('mouseleave', () => {
    tip.style.display = 'none';
  });
  count();
})();
"""
