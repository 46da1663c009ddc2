// Filters hide cards; grouping moves them into one section per key. Cards carry their
// keys in data-* attributes written by gallery.html.j2.
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
