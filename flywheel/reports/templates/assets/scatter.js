// Points are SVG circles with data-i indexing the JSON in #points; the legend toggles a
// class on and off; hovering a point shows its thumbnail and labels.
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
    text.textContent = p.cls + ' — predicted ' + p.pred + ' (' + p.conf + ')';
    const id = document.createElement('div');
    id.className = 'muted';
    id.textContent = p.id.slice(0, 16) + '…' + (p.group ? '  group ' + p.group : '');
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
